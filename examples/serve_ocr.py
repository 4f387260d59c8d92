"""An OCR HTTP service on aiohttp: page images in, JSON out, lines of all
requests batched together by scipix.runtime.

    python examples/serve_ocr.py [--host 127.0.0.1] [--port 8080]

``POST /ocr`` with an encoded image (PNG, JPEG, ... as the body) answers
``{"lines": [{"text", "box", "score"}]}`` as ``examples/ocr_pipeline.py``
reads the page; ``POST /line`` with the image of one text line answers
``{"text", "score"}``.  A body OpenCV cannot decode gets 400, one over
``--max-body`` bytes 413, a request beyond ``--max-pages`` pages in
progress waits for its turn.

How the work is shared: detection runs on the detector's one session (its
intra-op threads on every core), a page at a time in a worker thread; each
line of every page in progress is a request to the recognizer's
``BatchedModel``, so the lines of concurrent requests share batches, run
one batch per core on the session pool.  Stopping (Ctrl-C, or
:meth:`OcrService.stop`) answers the requests in progress first, then
closes the batcher and the sessions.
"""
from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import cv2
import numpy as np
from aiohttp import web

from ocr_pipeline import LINE_HEIGHT, OcrPipeline, Page, default_models
from scipix.optimize.parallel import crop_widths

MAX_BODY = 20 * 1024 * 1024
MAX_PAGES = 4
SHUTDOWN_SECONDS = 60.0


class OcrService:
    """The aiohttp application around an :class:`OcrPipeline`.

    Parameters
    ----------
    models : str
        The PP-OCRv4 models' directory.
    max_pages : int
        Pages detected or recognized at once; more wait.
    max_body : int
        Largest request body in bytes.
    """

    def __init__(self, models: str, max_pages: int = MAX_PAGES,
                 max_body: int = MAX_BODY) -> None:
        self.pipeline = OcrPipeline(models)
        self._detector = ThreadPoolExecutor(1, thread_name_prefix="scipix-serve-detect")
        self._pages = asyncio.Semaphore(max_pages)
        self.app = web.Application(client_max_size=max_body)
        self.app.add_routes([web.post("/ocr", self.ocr), web.post("/line", self.line)])
        self.app.on_cleanup.append(self._close)
        self._runner: Optional[web.AppRunner] = None

    async def ocr(self, request: web.Request) -> web.Response:
        image = decode(await request.read())
        async with self._pages:
            loop = asyncio.get_running_loop()
            page = await loop.run_in_executor(self._detector, self.pipeline.detect,
                                              Page("request", image))
            boxes, lines = self.pipeline.line_requests(page)
            results = await asyncio.gather(*(self.pipeline.lines.infer(line) for line in lines))
        return web.json_response({"lines": self.pipeline.add_lines(page, boxes, results).lines})

    async def line(self, request: web.Request) -> web.Response:
        image = decode(await request.read())
        rows, cols = image.shape[:2]
        quad = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], np.float32)
        width = int(crop_widths(quad[np.newaxis], LINE_HEIGHT)[0])
        text, score = await self.pipeline.lines.infer((image, quad, width))
        return web.json_response({"text": text, "score": score})

    async def start(self, host: str, port: int) -> int:
        """Serve on ``host``:``port`` (0: any free port); the port."""
        self._runner = web.AppRunner(self.app, shutdown_timeout=SHUTDOWN_SECONDS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Stop listening, answer the requests in progress, free everything."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _close(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.pipeline.close)
        self._detector.shutdown()


def decode(body: bytes) -> np.ndarray:
    """A request body as a BGR image, or 400."""
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
    if image is None:
        raise web.HTTPBadRequest(text="the body is not an image OpenCV can decode")
    return image


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-pages", type=int, default=MAX_PAGES)
    parser.add_argument("--max-body", type=int, default=MAX_BODY)
    args = parser.parse_args(argv)

    async def serve() -> None:
        service = OcrService(default_models(), args.max_pages, args.max_body)
        port = await service.start(args.host, args.port)
        print(f"serving on http://{args.host}:{port} (POST /ocr, POST /line)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await service.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
