"""The three jobs over HTTP: `faceprint serve` (FastAPI on uvicorn; `pip install 'faceprint[serve]'`)."""
