"""Fine-Tune Studio: fine-tune Hugging Face models by clicking, or headless from a run config."""

import os

__version__ = "0.1.0"

# transformers 5 swaps compiled "hub kernels", fetched from the Hugging Face Hub, into every model it loads on a GPU
# unless told not to. Offline that load fails outright (a QLoRA run of a Llama-shaped model on an H100 died on
# "kernels-community/rotary is not available in the local cache"), and online it runs code the person never chose.
# The app's models run on torch's own kernels; a person who wants the Hub's sets USE_HUB_KERNELS=1. Set here, before
# any model loads, so the server, the training process (which inherits it) and the CLI all load the same way.
os.environ.setdefault("USE_HUB_KERNELS", "0")

# Torch's CPU threads (GNU OpenMP) spin while they wait for work by default, so a second training or any other busy
# program on the same cores turns their spinning into lost time: two MiniLM runs at once on 2 cores took 427 s each,
# 6.6x one alone, and their step time swung so the time left was off by -32% to +56%. Waiting asleep, the same two
# took 105 s each and the plan box's first figure was within 3%; one run alone took 67-73 s either way
# (bench/README.md, "Two runs at once"). Read when torch loads, so it is set before any import of torch here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
