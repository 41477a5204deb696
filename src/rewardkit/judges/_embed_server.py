"""A small OpenAI-compatible embeddings server for a local sentence-transformers folder.

``python -m rewardkit.judges._embed_server [--model DIR] [--host 127.0.0.1] [--port 0]
[--threads N]`` serves ``POST /v1/embeddings`` (``{"input": [...], "model": ...}`` ->
``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}], ...}``;
``"encoding_format": "base64"`` packs each embedding as little-endian float32, as OpenAI does)
and ``GET /health``, and prints ``listening on http://HOST:PORT`` once the model is loaded.

It exists so ``backend: http`` can be tested and benchmarked against a real server on a machine
without a GPU serving stack (``infinity-emb`` does not install alongside rewardkit's pins: it
needs ``click<8.2``). For training at scale, serve the model with vLLM, SGLang, TEI or Infinity:
they speak the same protocol. Embeddings are float32 and unit-norm, computed by the same
:class:`~rewardkit.judges._embedding.TextEmbedder` as ``backend: local``, so partitions match.
Requests are handled one at a time (the model uses every thread it is given).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rewardkit.judges._embedding import TextEmbedder

__all__ = ["main", "make_server"]


def make_server(
    host: str, port: int, embedder: TextEmbedder, name: str = "rewardkit-embedder"
) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", "/v1/models"):
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                doc = json.loads(self.rfile.read(length))
                texts = doc["input"]
                if isinstance(texts, str):
                    texts = [texts]
                if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                    raise ValueError("input must be a string or a list of strings")
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": {"message": f"bad request: {exc}"}})
                return
            with lock:
                vectors = embedder.encode(texts, exact=True)
            packed = doc.get("encoding_format") == "base64"  # OpenAI: little-endian float32
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
                    if packed
                    else v.tolist(),
                }
                for i, v in enumerate(vectors)
            ]
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": doc.get("model") or name,
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                },
            )

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="sentence-transformers folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--cache-size", type=int, default=65_536, help="texts cached (0: embed every request)"
    )
    args = parser.parse_args(argv)
    embedder = TextEmbedder(
        args.model,
        device=args.device,
        batch_size=args.batch_size,
        threads=args.threads,
        cache_size=args.cache_size,
    )
    embedder.encode(["warm up"], exact=True)
    server = make_server(args.host, args.port, embedder)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
