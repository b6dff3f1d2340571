"""Clients for the exported signatures: TF Serving over gRPC or REST, or a local SavedModel."""
from recsys_tf.serving.client import RecsysClient, ServingError, make_client
from recsys_tf.serving.grpc_client import GrpcClient
from recsys_tf.serving.local_client import LocalClient
from recsys_tf.serving.rest_client import RestClient

__all__ = ["GrpcClient", "LocalClient", "RecsysClient", "RestClient", "ServingError", "make_client"]
