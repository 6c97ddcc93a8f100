"""The local stack: moto's server for DynamoDB, S3 and Secrets Manager, tables
made from template.yaml, a seeded demo tenant, and a local API Gateway that
turns HTTP requests into the REST API proxy events the Lambda handlers get."""
