#!/usr/bin/env python3
"""A small PyTorch model server speaking the Open Inference Protocol (KServe v2) over REST.

It stands for the GPU model servers Outrider runs as `kind: process` runtimes (Triton,
TorchServe, vLLM...): it loads a model, warms it, reports readiness, and answers inference.
The model is a tiny residual convnet with deterministic weights (torch.manual_seed), so the
example needs no download. It runs on CUDA when torch sees a GPU, else on the CPU.

    /usr/bin/python3 server.py --port 8000

Routes: GET /v2/health/live, GET /v2/health/ready (200 only once the model is loaded and
warm), GET /v2/models/resnet, GET /v2/models/resnet/ready,
POST /v2/models/resnet[/versions/1]/infer with FP32 "input" [N,3,32,32] -> FP32 "logits" [N,10].
Errors are JSON: {"error": {"code", "message", "requestId"}} (Outrider's SPEC section 3).
"""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from aiohttp import web

MODEL_VERSION = "1"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
IMAGE_SHAPE = (3, 32, 32)
CLASSES = 10
MAX_BATCH = 64
# 64 images of 3x32x32 as JSON numbers fit well within this.
MAX_BODY_BYTES = 16 * 1024 * 1024


class TinyResNet(torch.nn.Module):
    """A stem, one residual block, global pooling and a linear head: a ResNet in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv1 = torch.nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(x + self.conv2(torch.relu(self.conv1(x))))
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


class BadRequest(Exception):
    """The client sent something the model cannot take: 400 invalid_request."""


class Model:
    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self.device = device
        self.net: TinyResNet | None = None
        self.ready = False
        # One thread: inference is serialised on the device, and the event loop stays free.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infer")

    def load(self) -> float:
        started = time.perf_counter()
        torch.manual_seed(0)
        net = TinyResNet().to(self.device).eval()
        # The first call pays for kernel selection and allocation; do it before claiming ready.
        with torch.inference_mode():
            net(torch.zeros((1, *IMAGE_SHAPE), device=self.device))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.net = net
        self.ready = True
        return time.perf_counter() - started

    def infer(self, batch: np.ndarray) -> np.ndarray:
        assert self.net is not None
        with torch.inference_mode():
            out = self.net(torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()

    def metadata(self) -> dict:
        return {
            "name": self.name,
            "versions": [MODEL_VERSION],
            "platform": "pytorch",
            "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *IMAGE_SHAPE]}],
            "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, CLASSES]}],
        }


def reject_constant(name: str) -> float:
    raise BadRequest(f"{name} is not allowed in tensor data")


def parse_infer(body: bytes) -> tuple[np.ndarray, object]:
    """The request's single FP32 input as an [N,3,32,32] array, and its optional id."""
    try:
        doc = json.loads(body, parse_constant=reject_constant)
    except BadRequest:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise BadRequest('body must be an object with an "inputs" array')
    inputs = doc["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise BadRequest(f'expected exactly one input "{INPUT_NAME}", got {len(inputs)}')
    tensor = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise BadRequest(f'unknown input {json.dumps(tensor.get("name"))}; the model takes "{INPUT_NAME}"')
    if tensor.get("datatype") != "FP32":
        raise BadRequest(f'input "{INPUT_NAME}" must be FP32, got {json.dumps(tensor.get("datatype"))}')
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or tuple(shape[1:]) != IMAGE_SHAPE or not 1 <= shape[0] <= MAX_BATCH):
        raise BadRequest(f'input "{INPUT_NAME}" must have shape [N,3,32,32] with 1 <= N <= {MAX_BATCH}, got {json.dumps(shape)}')
    data = tensor.get("data")
    if not isinstance(data, list):
        raise BadRequest(f'input "{INPUT_NAME}" needs a "data" array')
    try:
        flat = np.asarray(data, dtype=np.float32).reshape(-1)
    except (ValueError, TypeError):
        raise BadRequest(f'input "{INPUT_NAME}" data must be numbers (flat or nested row-major)') from None
    expected = int(np.prod(shape))
    if flat.size != expected:
        raise BadRequest(f'input "{INPUT_NAME}" has {flat.size} values, shape {shape} needs {expected}')
    if not np.isfinite(flat).all():
        raise BadRequest(f'input "{INPUT_NAME}" holds values outside FP32 range')
    for out in doc.get("outputs") or []:
        if not isinstance(out, dict) or out.get("name") != OUTPUT_NAME:
            raise BadRequest(f'unknown output requested; the model gives "{OUTPUT_NAME}"')
    return flat.reshape(shape), doc.get("id")


def error(status: int, code: str, message: str, request_id: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "requestId": request_id}},
        status=status,
        headers={"x-request-id": request_id},
    )


def request_id(request: web.Request) -> str:
    return request.headers.get("x-request-id") or uuid.uuid4().hex


@web.middleware
async def json_errors(request: web.Request, handler):
    """aiohttp's own 404/405/413 pages become the same JSON errors as everything else."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(e.status, "invalid_request")
        return error(e.status, code, e.reason, request_id(request))


def build_app(model: Model) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
    routes = web.RouteTableDef()

    def known(request: web.Request) -> None:
        name = request.match_info["name"]
        if name != model.name:
            raise web.HTTPNotFound(reason=f'unknown model "{name}"; this server has "{model.name}"')
        version = request.match_info.get("version")
        if version is not None and version != MODEL_VERSION:
            raise web.HTTPNotFound(reason=f'model "{name}" has no version "{version}"')

    @routes.get("/v2/health/live")
    async def live(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    @routes.get("/v2/health/ready")
    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": model.ready}, status=200 if model.ready else 503)

    @routes.get("/v2/models/{name}")
    async def metadata(request: web.Request) -> web.Response:
        known(request)
        return web.json_response(model.metadata())

    @routes.get("/v2/models/{name}/ready")
    async def model_ready(request: web.Request) -> web.Response:
        known(request)
        return web.json_response({"name": model.name, "ready": model.ready}, status=200 if model.ready else 503)

    async def infer(request: web.Request) -> web.Response:
        rid = request_id(request)
        known(request)
        if not model.ready:
            return error(503, "unavailable", "the model is still loading", rid)
        try:
            batch, client_id = parse_infer(await request.read())
        except BadRequest as e:
            return error(400, "invalid_request", str(e), rid)
        logits = await asyncio.get_running_loop().run_in_executor(model.executor, model.infer, batch)
        body = {
            "model_name": model.name,
            "model_version": MODEL_VERSION,
            "outputs": [{
                "name": OUTPUT_NAME,
                "datatype": "FP32",
                "shape": list(logits.shape),
                "data": logits.reshape(-1).tolist(),
            }],
        }
        if client_id is not None:
            body["id"] = client_id
        return web.json_response(body, headers={"x-request-id": rid})

    routes.post("/v2/models/{name}/infer")(infer)
    routes.post("/v2/models/{name}/versions/{version}/infer")(infer)
    app.add_routes(routes)

    async def load_in_background(app: web.Application) -> None:
        # Listen first, load after: the health endpoints answer (503) while the model loads.
        async def load() -> None:
            seconds = await asyncio.get_running_loop().run_in_executor(model.executor, model.load)
            print(f"model {model.name} loaded and warm in {seconds:.2f}s; ready", flush=True)

        app["loader"] = asyncio.create_task(load())

    app.on_startup.append(load_in_background)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-name", default=os.environ.get("MODEL", "resnet"))
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="auto: the GPU when torch sees one, else the CPU; cuda: refuse to start without one")
    parser.add_argument("--shutdown-timeout", type=float, default=4.0,
                        help="seconds in-flight requests get after SIGTERM (keep below Outrider's stopGrace)")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    if args.device == "cuda" and not torch.cuda.is_available():
        # Pinned to a GPU this machine does not have (or no driver): serving on the CPU instead
        # would look healthy and be far slower, so fail, and say why on the last stderr line.
        cuda = torch.version.cuda or "none (a CPU-only torch build)"
        print(f"--device cuda: torch sees no CUDA device (CUDA_VISIBLE_DEVICES={visible}, torch {torch.__version__}, "
              f"CUDA {cuda})", file=sys.stderr, flush=True)
        return 2
    use_cuda = args.device != "cpu" and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"{args.model_name} server: torch {torch.__version__}, device {device}{gpu}, "
          f"CUDA_VISIBLE_DEVICES={visible}", flush=True)

    # SIGTERM/SIGINT: aiohttp stops accepting and lets in-flight requests finish, then exits 0.
    web.run_app(build_app(Model(args.model_name, device)), host=args.host, port=args.port,
                shutdown_timeout=args.shutdown_timeout, print=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
