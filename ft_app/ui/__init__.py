"""The Gradio app: the only package that imports gradio. `build_app()` assembles the five tabs."""

from ft_app.ui.app import build_app, launch, launch_options

__all__ = ["build_app", "launch", "launch_options"]
