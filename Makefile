# Weft: the two commands are `make demo` and `make test`; both install what they need.
NODE := ./scripts/node
TEST_FILES ?= 'src/**/*.test.ts' 'test/**/*.test.ts'

.PHONY: setup demo demo-datastore test typecheck lint unit bench clean

setup:
	@./scripts/setup.sh

# The seeds' scenario (needs root): a two-host lab, a dockerd per host, the Weft Docker plugin,
# the seed's v1 ipPool and docker commands, ping across hosts, isolation, cleanup.
demo: setup
	@$(NODE) scripts/demo-docker.ts

# The short datastore-only transcript (no root needed).
demo-datastore: setup
	@./scripts/demo.sh

test: setup typecheck lint unit

typecheck: setup
	@echo '== tsc --noEmit'
	@$(NODE) node_modules/typescript/bin/tsc --noEmit -p .

lint: setup
	@echo '== eslint'
	@$(NODE) node_modules/eslint/bin/eslint.js --max-warnings=0 .

unit: setup
	@echo '== node --test'
	@$(NODE) --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec $(TEST_FILES)

bench: setup
	@for b in bench/*/main.ts; do echo "== $$b"; $(NODE) $$b || exit 1; done

clean:
	rm -rf node_modules .tools .stamps
