"""saga_local.core.routing: the moto server remembers each signed request's service."""

from tests.support.emulator import client, streamed_table


def test_remembered_routes_still_tell_each_service_apart(server: str) -> None:
    """Routes are remembered by signature: DynamoDB and DynamoDB Streams share a signing name, SQS and SNS
    share nothing but the server."""
    dynamodb, stream_arn = streamed_table(server, "routes")
    sqs, sns = client("sqs", server), client("sns", server)
    for _ in range(2):
        assert dynamodb.list_tables()["TableNames"] == ["routes"]
        assert client("dynamodbstreams", server).describe_stream(StreamArn=stream_arn)["StreamDescription"]
        assert sqs.create_queue(QueueName="q")["QueueUrl"].endswith("/q")
        assert sns.create_topic(Name="t")["TopicArn"].endswith(":t")
