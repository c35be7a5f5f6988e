# botocore is where the hook lives (boto3 only builds clients on it). Converse and
# ConverseStream are in the bedrock-runtime model from botocore 1.34.116; older releases
# still get InvokeModel and InvokeModelWithResponseStream.
_instruments = ("botocore >= 1.34.0",)
