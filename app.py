"""Fine-Tune Studio: build the Gradio app and launch it (also the Hugging Face Space entry point)."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port (defaulting to GRADIO_SERVER_NAME/GRADIO_SERVER_PORT) and serve the app."""
    parser = argparse.ArgumentParser(description="Fine-Tune Studio: fine-tune a Hugging Face model by clicking.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port")
    args = parser.parse_args(argv)

    from ft_app.ui import launch

    launch(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
