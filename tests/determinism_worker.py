"""The training half of tests/test_determinism.py, in a process of its own.

    python tests/determinism_worker.py FAMILY THREADS SEED OUT.npz

seeds scratchnet with ``set_random_seed(SEED)``, selects the kernel family (``use_kernels``)
and the thread count (``set_num_threads``), builds a small CNN (Conv2D, BatchNormalization,
MaxPooling2D, Dropout, Dense), trains it for a few steps and saves to OUT.npz what a run
produces: the initial weights (``init_*``), the predictions of the untrained model
(``predict``), the mean loss of each epoch (``losses``), the trained weights (``final_*``) and
OpenBLAS's kernel family (``blas_kernels``).
"""

import sys

import numpy as np

from scratchnet import config, layers, models, utils
from scratchnet.kernels import process


def main(family, threads, seed, out):
    config.use_kernels(family)
    config.set_num_threads(threads)
    utils.set_random_seed(seed)
    data = np.random.default_rng(0)  # the data is the same in every run, whatever the seed
    x = data.normal(size=(96, 12, 12, 2)).astype("float32")
    y = data.integers(0, 4, size=96)
    model = models.Sequential(
        [
            layers.Input((12, 12, 2)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    saved = {f"init_{i}": w for i, w in enumerate(model.get_weights())}
    saved["predict"] = model.predict(x, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)  # 12 steps
    saved["losses"] = np.array(history.history["loss"], dtype="float64")
    saved.update({f"final_{i}": w for i, w in enumerate(model.get_weights())})
    saved["blas_kernels"] = np.array(str(process.blas_kernel_family()))
    np.savez(out, **saved)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
