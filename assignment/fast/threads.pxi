# Threads: included by assignment/fast_layers.pyx (part of the extension assignment._fast_cython).
#
# Every parallel CPU twin runs its nogil kernels over ranges on one small, blocking Python thread
# pool (_run_ranges), never in OpenMP regions: an OpenMP runtime's idle threads spin after each
# region and, on 2 cores, halve the next convolution. The thread count is OpenMP's (num_threads).
# While our threads call BLAS (np.matmul), BLAS is held to one thread (_blas_single_enter/_exit,
# counted so that nested holds work): BLAS's own threads and ours would fight over the cores.

_pool = None
_pool_lock = threading.Lock()
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter = None
_blas_controller = None


def num_threads():
    """Threads the CPU twins use: OpenMP's max for the calling thread (OMP_NUM_THREADS, threadpoolctl)."""
    return max(1, openmp.omp_get_max_threads())


def _executor(n):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            from concurrent.futures import ThreadPoolExecutor

            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fast_layers")
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _blas_single_enter():
    """Hold numpy's BLAS to one thread while our own threads call it (nested calls count)."""
    global _blas_depth, _blas_limiter, _blas_controller
    with _blas_lock:
        if _blas_depth == 0:
            if _blas_controller is None:
                from threadpoolctl import ThreadpoolController

                _blas_controller = ThreadpoolController()
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
        _blas_depth += 1


def _blas_single_exit():
    global _blas_depth, _blas_limiter
    with _blas_lock:
        _blas_depth -= 1
        if _blas_depth == 0:
            _blas_limiter.restore_original_limits()
            _blas_limiter = None


# Below this many elements an elementwise kernel runs on one thread (no hand-off).
_PARALLEL_MIN_ELEMENTS = 1 << 15


def _elementwise_threads(n):
    return num_threads() if n >= _PARALLEL_MIN_ELEMENTS else 1


def _split(n_items, n_parts):
    """Contiguous, near-equal ranges [lo, hi) covering range(n_items)."""
    bounds = [n_items * k // n_parts for k in range(n_parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(n_parts) if bounds[k + 1] > bounds[k]]


def _run_ranges(fn, n_items, n_threads, args, blas=True):
    """Run ``fn(lo, hi, thread_index, *args)`` over a split of range(n_items), one range per thread.

    The calling thread runs the first range itself. With one thread nothing is handed off
    and BLAS keeps whatever thread count it has; with more, BLAS is held to one thread while
    they run (``blas=False``: the workers never call BLAS, leave it alone).

    Why Python threads and not OpenMP: the workers call BLAS through np.matmul, which needs
    the GIL between the nogil kernels; and an OpenMP runtime's idle threads spin for
    milliseconds after each parallel region (libgomp's default), which on 2 cores halves
    the next convolution. Idle Python threads block instead of spinning.
    """
    ranges = _split(n_items, n_threads)
    if len(ranges) <= 1:
        for lo, hi in ranges:
            fn(lo, hi, 0, *args)
        return
    pool = _executor(len(ranges) - 1)
    if blas:
        _blas_single_enter()
    try:
        futures = [pool.submit(fn, lo, hi, k + 1, *args) for k, (lo, hi) in enumerate(ranges[1:])]
        first_error = None
        try:
            fn(ranges[0][0], ranges[0][1], 0, *args)
        except BaseException as exc:  # wait for the others before raising
            first_error = exc
        for fut in futures:
            try:
                fut.result()
            except BaseException as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
    finally:
        if blas:
            _blas_single_exit()
