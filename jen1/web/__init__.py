"""jen1.web: the web UI (``app.build_app``) and HTTP API (``api.build_api``) behind ``jen1 serve``.

``settings`` holds the limits, ``jobs`` validates requests and runs them on the shared model,
``results`` writes result audio, ``plots`` draws waveform + spectrogram, ``server`` runs it all.
Nothing here imports gradio or loads a model at import time.
"""
