-- deploy/docker-compose.yml: the node's database beside the hub's (ponte_hub, made by the
-- image from POSTGRES_DB). On separate machines, each has its own server; see the admin guide.
CREATE DATABASE ponte_node OWNER ponte;
