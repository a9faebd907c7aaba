"""A stand-in for ``vllm`` / ``trtllm-serve`` on PATH: records its argv, starts a grandchild (as an
engine starts workers), answers ``GET /health`` on ``--port`` — unless told to exit at once or
to ignore SIGTERM. Run as a script by the fake executables the tests write."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys


def main() -> None:
    argv = sys.argv[1:]
    with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "pid": os.getpid()}) + "\n")
    if os.environ.get("FAKE_ENGINE_MODE") == "exit":
        sys.exit(3)
    if os.environ.get("FAKE_ENGINE_MODE") == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
        log.write(json.dumps({"worker": worker.pid}) + "\n")
    port = int(argv[argv.index("--port") + 1])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()


if __name__ == "__main__":
    main()
