"""All text a person reads: tables, sentences, Markdown, CSV and JSON (render(obj, fmt) in registry.py)."""
