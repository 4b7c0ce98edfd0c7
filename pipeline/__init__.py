"""mediapub: publish media to S3 and CloudFront and render a player site."""

__version__ = "0.1.0"
