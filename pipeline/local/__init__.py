"""The embedded local stack: S3 and CloudFront API endpoint plus RTMP and HTTP edges."""
