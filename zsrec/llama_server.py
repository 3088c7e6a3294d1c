"""llama.cpp's own OpenAI-compatible server on this machine, from a prebuilt wheel: nothing compiles.

``--backend openai`` talks to ``vllm serve`` replicas in production; on a laptop, in the tests and in
the serving benchmark the same protocol comes from llama.cpp's C++ server, which the ``xllamacpp``
wheel ships ready-built (``pip install xllamacpp``, about 35 MB, no dependencies). The server runs in
a child process so that it can be stopped like any other server:

    python -m zsrec.llama_server --port 8000                 # the embedded default model
    python -m zsrec.llama_server --model other.gguf --port 8001 --alias other
    zsrec rank --backend openai --base-url http://127.0.0.1:8000 -H "Fargo (1996)"
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError, ModelUnavailableError


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    """One running server process; ``url`` is its root (``/v1`` is added by the openai backend)."""

    process: subprocess.Popen
    url: str
    log: Path

    def stop(self, seconds: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(log: Path, model: str | Path | None = None, port: int | None = None, alias: str = "smollm2",
          n_ctx: int = 4096, threads: int = 1, parallel: int = 1, ready_seconds: float = 120.0) -> LlamaServer:
    """Start a server on 127.0.0.1 and wait until it lists its model; its log goes to ``log`` (a file,
    not a pipe: a pipe nobody reads fills up and stalls the server)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "zsrec.llama_server", "--port", str(port), "--alias", alias,
           "--n-ctx", str(n_ctx), "--threads", str(threads), "--parallel", str(parallel)]
    if model is not None:
        cmd += ["--model", str(model)]
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    server = LlamaServer(proc, f"http://127.0.0.1:{port}", Path(log))
    end = time.monotonic() + ready_seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ModelUnavailableError(f"llama.cpp server exited: {Path(log).read_text()[-2000:]}")
        try:
            urllib.request.urlopen(server.url + "/v1/models", timeout=2).read()
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise ModelUnavailableError(f"llama.cpp server did not come up within {ready_seconds:.0f}s")


def serve(model: str | None, port: int, alias: str, n_ctx: int, threads: int, parallel: int,
          verbose: bool = False) -> None:
    """Run a server in this process until SIGTERM or SIGINT."""
    try:
        import xllamacpp as xlc
    except ImportError:
        raise ModelLoadError("the llama.cpp server needs the xllamacpp wheel: pip install xllamacpp") from None
    if model is None:
        from .models import default_gguf_path

        path = default_gguf_path()
    else:
        path = Path(model).expanduser()
        if path.suffix.lower() != ".gguf" or not path.is_file():
            raise ModelLoadError(f"the llama.cpp server takes a .gguf file; not found: {model}")
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx * parallel  # llama.cpp splits the context over its parallel slots
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    if not verbose:
        params.verbosity = -1
    server = xlc.Server(params)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"llama.cpp server for {path.name} as {alias!r} on {server.listening_address}", flush=True)
    done.wait()
    del server


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m zsrec.llama_server", description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a .gguf file (default: the embedded SmolLM2-135M-Instruct)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--alias", default="smollm2", help="the model name the server lists")
    ap.add_argument("--n-ctx", type=int, default=4096, help="context length per request")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parallel", type=int, default=1, help="requests decoded at once")
    ap.add_argument("--verbose", action="store_true", help="llama.cpp's own log")
    args = ap.parse_args(argv)
    try:
        serve(args.model, args.port, args.alias, args.n_ctx, args.threads, args.parallel, args.verbose)
    except (ModelLoadError, ModelUnavailableError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
