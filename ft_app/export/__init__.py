"""Take a finished run anywhere: a zip, a merged model, a model card, the Hub, a demo Space, the recipe at scale.

One small module per job; none imports gradio. Every function reads a run folder and writes outside it, except
`merge` (which writes `merged/` inside the run, as the design asks) and `card` with no folder given.
"""
