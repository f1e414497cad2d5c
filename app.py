"""Fine-Tune Studio: build the Gradio app and launch it (also the Hugging Face Space entry point)."""

from __future__ import annotations

import argparse
import os

HOSTING_HELP = """hosting (environment variables):
  FT_APP_HOME=/dir              runs and uploads go to /dir/runs and /dir/uploads (default on a Space: /data/ft_app)
  FT_APP_AUTH=user:password     ask for this login before showing anything
  FT_APP_OAUTH=1                on a Space with `hf_oauth: true`: "Sign in with Hugging Face" before training
  FT_APP_DEMO=1                 demo server: browse and compare runs, no training (refused in the page and the API)
  FT_APP_MAX_UPLOAD_MB=200      largest upload accepted
  FT_APP_QUEUE_SIZE=16          requests allowed to wait before visitors are told the queue is full
  FT_APP_ALLOW_REMOTE_CODE=1    let models run their own code (trust_remote_code); off by default
  FT_APP_LOCAL_ROOT=/dir        local model and data paths only from inside /dir
  FT_APP_MAX_PROCESSES=N        training processes per run (default: one per GPU, else one public / one per core)
  FT_APP_SHARED_RUNS=1          every visitor may download any run's files (default: its owner and the admins)
  (the README's hosting table lists every setting and its default)
"""


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port (defaulting to GRADIO_SERVER_NAME/GRADIO_SERVER_PORT) and serve the app."""
    parser = argparse.ArgumentParser(
        description="Fine-Tune Studio: fine-tune a Hugging Face model by clicking.",
        epilog=HOSTING_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port")
    args = parser.parse_args(argv)

    from ft_app.ui import launch

    launch(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
