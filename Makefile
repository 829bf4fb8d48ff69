# Entry points for running the sensorlab stack. See docs/compose.md.
# Compose v2 is the user path; with Compose v1 (docker-compose) run e.g.
#   make up-offline COMPOSE=docker-compose WAIT=
COMPOSE ?= docker compose
WAIT    ?= --wait
OFFLINE := -f compose.yaml -f compose.offline.yaml

.PHONY: help offline-images up up-offline down clean test-e2e devbroker test-devbroker

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

offline-images: ## build the FROM scratch images compose.offline.yaml uses (no registry needed)
	scripts/offline-images.sh

up: ## run the stack with the real images
	$(COMPOSE) up -d $(WAIT)

up-offline: offline-images ## run the stack with the offline images
	$(COMPOSE) $(OFFLINE) up -d $(WAIT)

down: ## stop the stack, keep its volumes
	$(COMPOSE) down

clean: ## stop the stack and delete its volumes (Kafka log, lake)
	$(COMPOSE) down -v

test-e2e: ## the end-to-end tests; they prepare their images first, online or offline (README: Test it)
	go test -timeout 60m ./tests/e2e

devbroker: ## run the devbroker as a plain process on 127.0.0.1:9092, data in .data/devbroker
	cd tools/devbroker && go run ./cmd/devbroker --listen 127.0.0.1:9092 --data-dir $(CURDIR)/.data/devbroker

test-devbroker: ## test the devbroker module on its own
	cd tools/devbroker && GOWORK=off go test ./...
