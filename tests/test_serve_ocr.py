"""examples/serve_ocr.py on loopback: a bounded load test (no lost request,
bounded memory), bad bodies, and stopping with requests in flight."""
import asyncio
import resource
import threading

import numpy as np
import pytest

for _module in ("aiohttp", "onnxruntime", "rapidocr_onnxruntime", "PIL", "cv2"):
    pytest.importorskip(_module, reason="the serve and ocr extras")

import aiohttp  # noqa: E402
import cv2  # noqa: E402

from example_scripts import example  # noqa: E402
from scipix.tools import bench_ocr  # noqa: E402

if bench_ocr.find_font() is None:
    pytest.skip("no TrueType font (apt-get install fonts-dejavu-core)", allow_module_level=True)

GUARD_S = 300  # a guard against a hang, never a measure
LINES = ["invoice total 12.50", "quartz judge vow", "page 17 of 4711", "the first years"]


def line_image(text):
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(bench_ocr.find_font(), 26)
    image = Image.new("RGB", (int(font.getlength(text)) + 40, 48), (255, 255, 255))
    ImageDraw.Draw(image).text((20, 8), text, fill=(0, 0, 0), font=font)
    ok, data = cv2.imencode(".png", np.asarray(image)[:, :, ::-1])
    return data.tobytes()


def page_image(seed):
    page, truth = bench_ocr.render_page(seed, lines=3)
    ok, data = cv2.imencode(".png", page)
    return data.tobytes(), truth


def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def scipix_threads():
    return [t for t in threading.enumerate() if t.name.startswith("scipix-")]


def serve(main):
    """Run ``main(service, url)`` against a service on a free loopback port."""
    serve_ocr = example("serve_ocr")
    threads = set(scipix_threads())

    async def run():
        service = serve_ocr.OcrService(serve_ocr.default_models(), max_body=1 << 20)
        port = await service.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(main(service, f"http://127.0.0.1:{port}"), GUARD_S)
        finally:
            await service.stop()

    asyncio.run(run())
    assert set(scipix_threads()) == threads


def test_load_no_lost_request_bounded_memory():
    bodies = [line_image(text) for text in LINES]
    page, truth = page_image(5)

    async def main(service, url):
        async with aiohttp.ClientSession() as session:
            async def line(k):
                async with session.post(f"{url}/line", data=bodies[k % 4]) as response:
                    assert response.status == 200
                    return k, (await response.json())["text"]

            async def ocr():
                async with session.post(f"{url}/ocr", data=page) as response:
                    assert response.status == 200
                    return [line["text"] for line in (await response.json())["lines"]]

            async def wave():
                answers = await asyncio.gather(*(line(k) for k in range(64)),
                                               *(ocr() for _ in range(4)))
                for k, text in answers[:64]:
                    assert text.strip() == LINES[k % 4], (k, text)
                for lines in answers[64:]:
                    assert bench_ocr.character_error_rate(lines, truth) < 0.1, (lines, truth)

            # The first waves grow the sessions' batch buffers (one per line
            # width) and ONNX Runtime's arenas (blocks per batch size seen):
            # a process of this test plateaued after 4 waves; then memory
            # stays put.
            for _ in range(4):
                await wave()
            sizes = [resident_mb()]
            for _ in range(3):
                await wave()
                sizes.append(resident_mb())
            # Keeping the requests' decoded pages (1754 x 1240 x 3 bytes,
            # four a wave) would add 78 MB.
            assert sizes[-1] - sizes[0] < 48, sizes
            stats = service.pipeline.lines.stats()
            assert stats.batching.failed_items == 0
            assert max(stats.batch_sizes) > 1  # lines of concurrent requests shared batches

    serve(main)


def test_bad_bodies():
    async def main(service, url):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/ocr", data=b"not an image") as response:
                assert response.status == 400
                assert "not an image" in await response.text()
            async with session.post(f"{url}/line", data=b"") as response:
                assert response.status == 400
            async with session.post(f"{url}/ocr", data=b"\0" * (2 << 20)) as response:
                assert response.status == 413
            async with session.post(f"{url}/line", data=line_image(LINES[0])) as response:
                assert response.status == 200  # still serving

    serve(main)


def test_stop_with_requests_in_flight():
    """Requests accepted before the stop are all answered; the stop waits
    for them, then frees the sessions and every thread."""
    page, _ = page_image(6)

    async def main(service, url):
        async with aiohttp.ClientSession() as session:
            async def ocr():
                async with session.post(f"{url}/ocr", data=page) as response:
                    return response.status, await response.json()

            requests = [asyncio.ensure_future(ocr()) for _ in range(6)]
            while service.pipeline.lines.stats().batching.items == 0:
                await asyncio.sleep(0.05)  # recognition under way
            await service.stop()
            answers = await asyncio.gather(*requests)
            assert all(status == 200 and body["lines"] for status, body in answers)
            assert service.pipeline.rec.closed and service.pipeline.det.closed

    serve(main)
