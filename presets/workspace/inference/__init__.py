"""The inference server of the preset images: KAITO's /chat plus an OpenAI-compatible API."""
