// The drawing pad: white ink on black, like MNIST. Sends the pixels to /predict and shows the answer.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const status = document.getElementById("status");
const PEN_WIDTH = 18;
let drawing = false;
let last = null;

function clearPad() {
  ctx.fillStyle = "black";
  ctx.fillRect(0, 0, pad.width, pad.height);
  document.getElementById("digit").textContent = "?";
  document.getElementById("bars").replaceChildren();
  document.getElementById("layers").replaceChildren();
  document.getElementById("input").getContext("2d").clearRect(0, 0, 112, 112);
  status.textContent = "";
}

function position(event) {
  const box = pad.getBoundingClientRect();
  return { x: event.clientX - box.left, y: event.clientY - box.top };
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  last = position(event);
  ctx.fillStyle = "white";
  ctx.beginPath();
  ctx.arc(last.x, last.y, PEN_WIDTH / 2, 0, 2 * Math.PI);
  ctx.fill();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const here = position(event);
  ctx.strokeStyle = "white";
  ctx.lineWidth = PEN_WIDTH;
  ctx.lineCap = "round";
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  ctx.lineTo(here.x, here.y);
  ctx.stroke();
  last = here;
});

for (const name of ["pointerup", "pointerleave"]) {
  pad.addEventListener(name, () => { drawing = false; });
}

// The red channel of the canvas as base64 bytes: one ink value 0-255 per pixel.
function inkAsBase64() {
  const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
  let text = "";
  for (let i = 0; i < rgba.length; i += 4) text += String.fromCharCode(rgba[i]);
  return btoa(text);
}

async function predict() {
  status.textContent = "Predicting...";
  const response = await fetch("predict", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ width: pad.width, height: pad.height, pixels: inkAsBase64() }),
  });
  const answer = await response.json();
  if (answer.error) {
    status.textContent = answer.error;
    return;
  }
  showProbabilities(answer.probabilities, answer.digit);
  showInput(answer.input);
  showLayers(answer.layers);
  document.getElementById("digit").textContent = answer.digit;
  status.textContent = "";
}

function showProbabilities(probabilities, best) {
  const bars = probabilities.map((p, digit) => {
    const row = document.createElement("div");
    row.className = digit === best ? "bar best" : "bar";
    row.innerHTML = `<span class="label">${digit}</span><span class="track">` +
      `<div class="fill" style="width:${(100 * p).toFixed(1)}%"></div></span>` +
      `<span class="value">${p.toFixed(3)}</span>`;
    return row;
  });
  document.getElementById("bars").replaceChildren(...bars);
}

// Paint grey values (0-255, row by row) into a new small canvas, drawn `scale` times larger.
function greyCanvas(values, width, height, scale) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const image = canvas.getContext("2d").createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    image.data.set([values[i], values[i], values[i], 255], 4 * i);
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

function showInput(pixels) {
  const target = document.getElementById("input").getContext("2d");
  target.imageSmoothingEnabled = false;
  target.drawImage(greyCanvas(pixels, 28, 28, 1), 0, 0, 112, 112);
}

function showLayers(layers) {
  const blocks = layers.map((layer) => {
    const bytes = Uint8Array.from(atob(layer.maps), (c) => c.charCodeAt(0));
    const size = layer.height * layer.width;
    const block = document.createElement("div");
    block.className = "layer";
    const title = document.createElement("h3");
    title.textContent = `${layer.name}: ${layer.channels} maps of ${layer.height}x${layer.width}`;
    const maps = document.createElement("div");
    maps.className = "maps";
    const scale = Math.max(2, Math.round(56 / layer.height));
    for (let c = 0; c < layer.channels; c++) {
      const values = bytes.subarray(c * size, (c + 1) * size);
      maps.append(greyCanvas(values, layer.width, layer.height, scale));
    }
    block.append(title, maps);
    return block;
  });
  document.getElementById("layers").replaceChildren(...blocks);
}

async function quit() {
  await fetch("quit", { method: "POST" });
  document.body.innerHTML = "<h1>Server stopped.</h1><p>You can close this tab.</p>";
}

document.getElementById("predict").addEventListener("click", predict);
document.getElementById("clear").addEventListener("click", clearPad);
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "BUTTON" && event.key === "Enter") return; // the button clicks itself
  if (event.key === "Enter") predict();
  else if (event.key === "c" || event.key === "C") clearPad();
  else if (event.key === "Escape") quit();
});

clearPad();
