"""One router per resource; `api/app.py` gathers the routers listed in PARTS."""
