"""`GrpcClient`: TF Serving's gRPC PredictionService (tensorflow-serving-api stubs)."""
from __future__ import annotations

import time

import grpc

from recsys_tf.serving.client import RecsysClient, ServingError, checked_retries, wire_value

RETRY_CODES = {grpc.StatusCode.UNAVAILABLE}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class GrpcClient(RecsysClient):
    """Args: target ("host:8500"), model name, optional version or label, timeout (deadline, s),
    retries (UNAVAILABLE only, exponential backoff), the served export's `limits`
    (`client.read_limits(EXPORT_VERSION_DIR)`; default: the export defaults, `client.DEFAULT_LIMITS`). One channel is reused for all calls."""

    def __init__(self, target: str, model: str, version: int | None = None, label: str | None = None,
                 timeout: float = 5.0, retries: int = 2, backoff: float = 0.2, limits: dict | None = None):
        super().__init__(f"grpc://{target}", model, limits)
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.version, self.label, self.timeout = version, label, timeout
        self.retries, self.backoff = checked_retries(retries), float(backoff)
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                                              ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def _predict(self, signature, inputs):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        elif self.label:
            request.model_spec.version_label = self.label
        for key, value in inputs.items():
            value = wire_value(value)
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=tf.string if value.dtype == object else None))
        for attempt in range(self.retries + 1):
            try:
                response = self.stub.Predict(request, timeout=self.timeout)
                break
            except grpc.RpcError as err:
                code = err.code()
                if code in RETRY_CODES and attempt < self.retries:
                    time.sleep(self.backoff * 2 ** attempt)
                    continue
                hint = {grpc.StatusCode.NOT_FOUND: "model or signature not found",
                        grpc.StatusCode.INVALID_ARGUMENT: "bad input",
                        grpc.StatusCode.DEADLINE_EXCEEDED: f"no answer within {self.timeout}s",
                        grpc.StatusCode.UNAVAILABLE: "server unavailable (is TF Serving running on this port?)"}
                raise ServingError(f"{self.endpoint} model {self.model!r} signature {signature!r}: "
                                   f"{hint.get(code, code.name)}: {err.details()}") from err
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def close(self) -> None:
        self.channel.close()
