# Style and layering checks.
format:
	clang-format -i $(shell find src tests bench -name '*.[ch]' ! -path 'tests/guest/payload/*')

lint:
	scripts/check-includes.sh
	clang-format --dry-run --Werror $(shell find src -name '*.[ch]')

.PHONY: format lint
