"""Fine-Tune Studio: fine-tune Hugging Face models by clicking, or headless from a run config."""

__version__ = "0.1.0"
