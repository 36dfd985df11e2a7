"""INTERNAL: the kernels behind the built-in layers (Keras would call this the backend).

For each op: its NumPy reference twin, its numba kernel, and its entry point; ``backend`` puts
the two families behind one interface and picks one (``scratchnet.config.use_kernels``).
Layers call ops through ``backend.current()`` and never ask which family runs.

    backend.py      the interface: NumpyKernels and NumbaKernels, and current()
    conv/           convolution: reference (geometry + twin), im2col, shifted, chunks, entry points
    pooling.py      max pooling: twin, kernels, entry points
    conv_pool.py    Conv2D + MaxPooling2D fused into one pass
    batch_norm.py   BatchNormalization's passes (statistics, y, the sums, dx; a fused ReLU)
    elementwise.py  bias and activations as numba loops (and Deferred: dz one chunk at a time)
    updates.py      SGD, Adam and RMSprop updates in one pass
    philox.py       TensorFlow's Philox random generator
    parallel.py     the chunks-on-all-cores mechanism, and Dense's side-by-side products
    blas.py         a BLAS gemm that numba kernels can call
    jit.py          the one place that touches numba (options, the cache stamp)
    process.py      everything scratchnet changes for the whole process (malloc, BLAS threads)

What was measured to choose each kernel: ``docs/kernels/``. Learners use ``scratchnet.ops``
(Keras's ops) and ``scratchnet.layers``; nothing here is public API.
"""
