"""Both clients against TF Serving's gRPC and REST protocols on 127.0.0.1, every signature."""
import numpy as np
import pytest

from recsys_tf.serving import GrpcClient, LocalClient, RestClient, ServingError
from tests.clock import within_one_clock_hour
from tests.conftest import copy_export
from tests.serving.savedmodel_server import SavedModelServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exports(tiny_exports, tmp_path_factory):
    """One model with two versions: 1 = brute force, 2 = ScaNN (the session's exports, copied)."""
    root = tmp_path_factory.mktemp("serving_exports")
    return root, copy_export(tiny_exports[0], root, "recsys", 1), copy_export(tiny_exports[1], root, "recsys", 2)


@pytest.fixture(scope="module")
def server(exports):
    with SavedModelServer(exports[0], "recsys", labels={"stable": 1, "canary": 2}) as running:
        yield running


def _clients(server, **kwargs):
    return [GrpcClient(f"127.0.0.1:{server.grpc_port}", "recsys", **kwargs),
            RestClient(f"http://127.0.0.1:{server.rest_port}", "recsys", **kwargs)]


@pytest.mark.parametrize("label", ["stable", "canary"])  # brute force (v1) and ScaNN (v2)
def test_every_signature_matches_the_saved_model(server, exports, label):
    local = LocalClient(str(exports[1] if label == "stable" else exports[2]))

    def compare():
        for client in _clients(server, label=label):
            assert client.search(["wireless earbuds", ""], k=5) == local.search(["wireless earbuds", ""], k=5)
            recs = client.recommend(["U00001"], [["SKU000001", "SKU000002"]], k=5)
            assert recs == local.recommend(["U00001"], [["SKU000001", "SKU000002"]], k=5)
            assert len(recs[0]) == 5 and all(b in ("SKU000001", "SKU000002") for _, _, b in recs[0])
            assert client.similar_items(["SKU000003"], k=4) == local.similar_items(["SKU000003"], k=4)
            in_context = client.recommend(["U00001", "U00002"], [["SKU000001"], []], k=5, hour=[3, None], weekday=2,
                                          device="mobile")
            assert in_context == local.recommend(["U00001", "U00002"], [["SKU000001"], []], k=5, hour=[3, None],
                                                 weekday=2, device="mobile")
            diverse = client.recommend(["U00001"], [["SKU000001"]], k=5, mmr_lambda=0.5, max_per_category=2)
            assert diverse == local.recommend(["U00001"], [["SKU000001"]], k=5, mmr_lambda=0.5, max_per_category=2)
            assert client.search("mug", k=3, max_per_category=1) == local.search("mug", k=3, max_per_category=1)
            with pytest.raises(ValueError, match="mmr_lambda"):
                client.search("mug", mmr_lambda=1.5)
            with pytest.raises(ValueError, match="hour.*\\[0, 23\\].*Received: hour=24"):
                client.recommend("U00001", [], hour=24)
            scored = client.score("U00001", ["SKU000001"], ["SKU000002", "SKU000004"])
            np.testing.assert_allclose(scored["rating"], local.score("U00001", ["SKU000001"],
                                                                     ["SKU000002", "SKU000004"])["rating"], atol=1e-5)
            embedded = client.predict("embed_query", {"query": np.array(["mug"], object)})["embedding"]
            assert embedded.shape[0] == 1
            # the signatures without a convenience method, through predict(): same outputs as in process
            history = np.array([["SKU000001", ""]], object)
            raw = {"search_personalized": {"query": np.array(["mug"], object), "user_id": np.array(["U00001"], object),
                                           "history_item_ids": history, "k": np.array([4], np.int32)},
                   "similar_to_text": {"item_text": np.array(["Acme ceramic mug, blue"], object),
                                       "k": np.array([4], np.int32)},
                   "embed_items": {"item_id": np.array(["SKU000001", "nope"], object)},
                   "serving_default": {"user_id": np.array(["U00001"], object), "history_item_ids": history,
                                       "exclude_item_ids": np.array([[""]], object), "k": np.array([3], np.int32)}}
            for signature, inputs in raw.items():
                got, want = client.predict(signature, inputs), local.predict(signature, inputs)
                assert set(got) == set(want), signature
                for key in want:
                    if np.asarray(want[key]).dtype.kind in "fc":
                        np.testing.assert_allclose(got[key], want[key], atol=1e-5, err_msg=f"{signature}/{key}")
                    else:
                        assert (np.asarray(got[key]).astype(str) == np.asarray(want[key]).astype(str)).all(), \
                            (signature, key)

    within_one_clock_hour(compare)


def test_errors_name_endpoint_and_model(server):
    for client in _clients(server):
        client.model = "nope"
        with pytest.raises(ServingError, match="nope.*not found|not found.*nope"):
            client.search("mug")
        client.model = "recsys"
        with pytest.raises(ServingError, match="bad input"):
            client.predict("search", {"query": np.array(["mug"], object)})  # k missing
        with pytest.raises(ValueError, match="k.*Received"):
            client.search("mug", k=0)
    rest = RestClient(f"http://127.0.0.1:{server.rest_port}", "recsys")
    assert rest.status()["model_version_status"][0]["state"] == "AVAILABLE"
    assert "search" in rest.metadata()["metadata"]["signature_def"]


def test_unreachable_and_deadline(exports):
    with pytest.raises(ServingError, match="cannot connect"):
        RestClient("http://127.0.0.1:1", "recsys", retries=1, backoff=0.01).search("mug")
    with pytest.raises(ServingError, match="unavailable"):
        GrpcClient("127.0.0.1:1", "recsys", retries=1, backoff=0.01, timeout=1).search("mug")
    with SavedModelServer(exports[0], "recsys", delay=1.5) as slow:
        for client in _clients(slow, timeout=0.3, retries=0):
            with pytest.raises(ServingError, match="within 0.3s|deadline|Deadline"):
                client.search("mug")


def test_a_request_the_server_read_is_never_sent_twice_and_negative_retries_are_refused():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    received = []

    def read_and_drop():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            received.append(connection.recv(65536))
            connection.close()  # the request was read; no answer

    threading.Thread(target=read_and_drop, daemon=True).start()
    try:
        client = RestClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "recsys", retries=3, backoff=0.01)
        with pytest.raises(ServingError, match="connection broke during the request.*not retried"):
            client.search("mug")
        assert len([r for r in received if r.startswith(b"POST")]) == 1
    finally:
        listener.close()
    for make in (RestClient, GrpcClient):
        target = "http://127.0.0.1:1" if make is RestClient else "127.0.0.1:1"
        with pytest.raises(ValueError, match="retries=-1.*Fix: pass 0"):
            make(target, "recsys", retries=-1)


NON_ENGLISH = ["无线 耳机", "café crème, bleu", "🎧 earbuds 🎶", "Kopfhörer für Kinder", "ÇA VA ＭＵＧ"]


def test_non_english_queries_give_the_same_answer_through_every_client(server, exports):
    local = LocalClient(str(exports[1]))
    want = local.search(NON_ENGLISH, k=5)
    embedded = local.predict("embed_query", {"query": np.array(NON_ENGLISH, object)})["embedding"]
    assert all(len(row) == 5 for row in want)
    for client in _clients(server, label="stable"):
        assert client.search(NON_ENGLISH, k=5) == want, type(client).__name__
        np.testing.assert_allclose(client.predict("embed_query", {"query": np.array(NON_ENGLISH, object)})["embedding"],
                                   embedded, atol=1e-5)
        as_bytes = np.array([q.encode("utf-8") for q in NON_ENGLISH], object)  # UTF-8 bytes are the same strings
        if isinstance(client, GrpcClient):
            np.testing.assert_allclose(client.predict("embed_query", {"query": as_bytes})["embedding"], embedded,
                                       atol=1e-5)


HOSTILE = {  # case: (signature, inputs, the error every client raises)
    "unknown signature": ("nope", {"query": np.array(["mug"], object)}, "not found"),
    "k missing": ("search", {"query": np.array(["mug"], object)}, "bad input"),
    "unexpected input": ("search", {"query": np.array(["mug"], object), "k": np.array([3], np.int32),
                                    "user": np.array(["U1"], object)}, "bad input"),
    "k as text": ("search", {"query": np.array(["mug"], object), "k": np.array(["5"])}, "bad input"),
    "k as a fraction": ("search", {"query": np.array(["mug"], object), "k": np.array([5.7])}, "bad input"),
    "query as numbers": ("search", {"query": np.array([1.5]), "k": np.array([3], np.int32)}, "bad input"),
    "k beyond int32": ("search", {"query": np.array(["mug"], object), "k": np.array([2 ** 40])}, "bad input"),
    "k of 0": ("search", {"query": np.array(["mug"], object), "k": np.array([0], np.int32)}, "at least 1"),
    "k over max_k": ("search", {"query": np.array(["mug"], object), "k": np.array([21], np.int32)}, "max_k=20"),
    "query of rank 2": ("search", {"query": np.array([["mug"]], object), "k": np.array([3], np.int32)}, "bad input"),
    "history of rank 1": ("serving_default", {"user_id": np.array(["U00001"], object),
                                              "history_item_ids": np.array(["SKU000001"], object),
                                              "exclude_item_ids": np.array([[""]], object),
                                              "k": np.array([3], np.int32)}, "bad input"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_hostile_request_gets_the_same_error_class_from_the_server_and_in_process(server, exports, case):
    signature, inputs, expected = HOSTILE[case]
    clients = [LocalClient(str(exports[1])), *_clients(server, label="stable")]
    for client in clients:
        with pytest.raises(ServingError, match=expected):
            client.predict(signature, inputs)
