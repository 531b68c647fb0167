# jifen: `make run` serves on :8080 with an embedded SQLite file; `make test`
# runs the whole suite against SQLite and MariaDB.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PLUGINS  := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
TESTFLAGS ?=

.PHONY: run build test test-race bench lint migrate clean

run: build
	./bin/jifen serve

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/jifen .
	@mkdir -p bin/plugins
	@for p in $(PLUGINS); do \
		echo "building plugin $$p"; \
		CGO_ENABLED=0 $(GO) build -trimpath -o bin/plugins/$$p ./plugins/$$p || exit 1; \
	done

# Every package's tests run on SQLite and on MariaDB (JIFEN_TEST_MYSQL_DSN,
# default root@tcp(127.0.0.1:3306)/). Without CI or JIFEN_TEST_REQUIRE_MYSQL
# set, MariaDB subtests skip with a message when the server is unreachable.
test:
	$(GO) test -count=1 $(TESTFLAGS) ./...

# The concurrency-heavy packages again under the race detector.
test-race:
	$(GO) test -count=1 -race $(TESTFLAGS) ./platform/... ./tenants/...

# One package at a time (-p 1), so benchmarks do not share the two cores.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 2s -count 1 ./... | tee bench.out

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

migrate: build
	./bin/jifen migrate

clean:
	rm -rf bin bench.out
