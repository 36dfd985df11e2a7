// The tape page: ask the server to draw one training step of the chosen model, show the SVG.
const select = document.getElementById("model");
const status = document.getElementById("status");
const tape = document.getElementById("tape");

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}

async function draw(train) {
  status.textContent = train ? "Training one step..." : "Drawing...";
  const answer = await post("/tape", { model: select.value, train });
  if (answer.error) {
    status.textContent = answer.error;
    return;
  }
  tape.innerHTML = answer.svg;
  status.textContent = `${select.options[select.selectedIndex].text}: step ${answer.step}, ` +
    `loss ${answer.loss.toFixed(4)}`;
}

async function start() {
  const models = await (await fetch("/models")).json();
  for (const [name, title] of Object.entries(models)) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = title;
    select.appendChild(option);
  }
  select.addEventListener("change", () => draw(false));
  document.getElementById("draw").addEventListener("click", () => draw(false));
  document.getElementById("train").addEventListener("click", () => draw(true));
  document.addEventListener("keydown", async (event) => {
    if (event.target === select) return;
    if (event.key === "t" || event.key === "T") draw(true);
    if (event.key === "Escape") {
      await post("/quit", {});
      document.body.innerHTML = "<p>Server stopped.</p>";
    }
  });
  await draw(false);
}

start();
