"""`RestClient`: TF Serving's REST API (`POST /v1/models/NAME[/versions/V|/labels/L]:predict`)."""
from __future__ import annotations

import time

import numpy as np
import requests

from recsys_tf.serving.client import RecsysClient, ServingError, checked_retries, wire_value

RETRY_STATUS = {503}


def _refused(error: requests.ConnectionError) -> bool:
    """True when the connection was never opened (refused, unresolvable): safe to send again."""
    import urllib3

    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class RestClient(RecsysClient):
    """Args: base_url ("http://host:8501"), model name, optional version or label, timeout (s),
    retries (on 503 / connection refused only, exponential backoff), the served export's
    `limits` (`client.read_limits(EXPORT_VERSION_DIR)`; default: the export defaults). One `requests.Session` is
    reused (keep-alive)."""

    def __init__(self, base_url: str, model: str, version: int | None = None, label: str | None = None,
                 timeout: float = 5.0, retries: int = 2, backoff: float = 0.2, limits: dict | None = None):
        super().__init__(base_url.rstrip("/"), model, limits)
        self.version, self.label, self.timeout = version, label, timeout
        self.retries, self.backoff = checked_retries(retries), float(backoff)
        self.session = requests.Session()

    def _model_path(self) -> str:
        path = f"{self.endpoint}/v1/models/{self.model}"
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label:
            path += f"/labels/{self.label}"
        return path

    def _request(self, method: str, url: str, **kwargs):
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as err:
                if not _refused(err):  # the request may have reached the server: never sent twice
                    raise ServingError(f"{url}: the connection broke during the request ({err}). Fix: check the "
                                       "server's logs; the request was not retried.") from err
                if attempt == self.retries:
                    raise ServingError(f"{url}: cannot connect ({err.__class__.__name__}). Fix: is TF Serving "
                                       "running and is the REST port (8501) right?") from err
            except requests.Timeout as err:
                raise ServingError(f"{url}: no answer within {self.timeout}s (deadline exceeded). Fix: raise the "
                                   "timeout or check the server load.") from err
            else:
                if response.status_code not in RETRY_STATUS or attempt == self.retries:
                    return response
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def status(self) -> dict:
        return self._check(self._request("GET", self._model_path()), "status")

    def metadata(self) -> dict:
        return self._check(self._request("GET", f"{self._model_path()}/metadata"), "metadata")

    def _check(self, response, what: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:300]}
        if response.status_code != 200:
            kind = {404: "model or signature not found", 400: "bad input"}.get(response.status_code,
                                                                              f"HTTP {response.status_code}")
            raise ServingError(f"{self._model_path()} ({what}): {kind}: {body.get('error', body)}")
        return body

    def _predict(self, signature, inputs):
        payload = {"signature_name": signature,
                   "inputs": {k: wire_value(v, text=True).tolist() for k, v in inputs.items()}}
        body = self._check(self._request("POST", f"{self._model_path()}:predict", json=payload), signature)
        outputs = body["outputs"]
        return {k: np.asarray(v) for k, v in outputs.items()} if isinstance(outputs, dict) else {"output": np.asarray(outputs)}
