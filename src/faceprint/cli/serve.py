"""`faceprint serve`: the HTTP service (see faceprint.service.app for what it guarantees)."""

from __future__ import annotations

import argparse
import os

from faceprint.cli.common import UserError, add_detector_option, add_model_option


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from faceprint.service.app import (
            LOOPBACK,
            ServiceSettings,
            create_app,
            read_api_keys,
        )
    except ImportError as e:
        raise UserError(f"the service needs FastAPI and uvicorn: pip install 'faceprint[serve]' ({e})") from None
    keys = read_api_keys(os.environ.get("FACEPRINT_API_KEYS"), args.api_key_file)
    if not keys:
        if not args.insecure_no_auth:
            raise UserError("no API key configured: set FACEPRINT_API_KEYS (comma-separated) or --api-key-file; "
                            "--insecure-no-auth runs without keys, on loopback only")
        if args.host not in LOOPBACK:
            raise UserError(f"--insecure-no-auth only listens on loopback ({', '.join(LOOPBACK)}), not {args.host}")
    if args.max_queue < 1 or args.timeout <= 0:
        raise UserError("--max-queue must be at least 1 and --timeout above 0")
    if (args.gallery is None) == (args.library is None):
        raise UserError("give --gallery G.db (a gallery of enrolled people) or --library L.db (a photo library made "
                        "by `faceprint library scan`), one of the two")
    if args.library is not None:
        from faceprint.cli.common import check_gallery_arg

        check_gallery_arg(args.library, create=False)
    settings = ServiceSettings(gallery=args.gallery or args.library, library=args.library is not None,
                               model=args.model, api_keys=keys,
                               max_body_bytes=int(args.max_body_mb * 2**20), max_pixels=args.max_pixels,
                               timeout_s=args.timeout, max_queue=args.max_queue, detector=args.detector,
                               thumbnails=not args.no_thumbnails)
    app = create_app(settings)
    from faceprint.applications.postgres import redact

    scopes = ", ".join(f"{sum(k.scope == s for k in keys)} {s}" for s in ("read", "write", "admin")
                       if any(k.scope == s for k in keys))
    what = f"library {redact(args.library)}" if args.library else f"gallery {redact(args.gallery)}"
    print(f"faceprint serve: {what}, http://{args.host}:{args.port} "
          f"({f'API keys: {scopes}' if keys else 'NO AUTH, loopback only'}); open that address in a browser "
          "for the web page", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                timeout_keep_alive=5, limit_concurrency=args.max_connections, server_header=False)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the three jobs over HTTP (embed, verify, enroll, identify, people, health)")
    p.add_argument("--gallery", help="the gallery `enroll` writes: a SQLite file, or a PostgreSQL database as "
                                     "postgresql://user@host/db (replicas share it)")
    p.add_argument("--library", help="instead of --gallery: a photo library made by `faceprint library scan` (its "
                                     "named people are the gallery; the page gains its Library view)")
    add_model_option(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="API keys, a line each: KEY [SCOPE [LABEL]], SCOPE one of read (embed, "
                                          "verify, identify, list people), write (also enroll, sort piles), admin "
                                          "(also delete people, erase crops, read the audit trail; a bare KEY is "
                                          "admin); LABEL is what the audit trail records. Besides "
                                          "FACEPRINT_API_KEYS (comma-separated, same form)")
    p.add_argument("--insecure-no-auth", action="store_true", help="run without API keys (loopback only)")
    p.add_argument("--max-body-mb", type=float, default=20.0, help="largest request body (413 above)")
    p.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image in pixels (413 above)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a request may take, queueing included (then 503, and its work stops)")
    p.add_argument("--max-queue", type=int, default=32,
                   help="requests waiting or running at once; past it 503 with Retry-After at once (default 32)")
    p.add_argument("--max-connections", type=int, default=64, help="concurrent connections (503 above)")
    add_detector_option(p, "the face detector")
    p.add_argument("--no-thumbnails", action="store_true",
                   help="never serve face thumbnails of the gallery's stored crops (the web page then shows "
                        "initials for people)")
    p.set_defaults(func=cmd_serve)
