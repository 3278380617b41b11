package main

import (
	"github.com/urfave/cli/v2"

	"github.com/gemmatool/gemmatool/runtime"
)

// kvTypeFlag is --kv-type of run, chat and bench.
func kvTypeFlag() cli.Flag {
	return &cli.StringFlag{Name: "kv-type", Value: "f32", Usage: "KV cache element type: f32 (exact) or bf16 (half the memory; attention widens it and computes in f32; error measured in the README)"}
}

// kvType parses --kv-type.
func kvType(c *cli.Context) (runtime.KVType, error) {
	t, err := runtime.ParseKVType(c.String("kv-type"))
	if err != nil {
		return 0, usageError("--kv-type %q: want f32 or bf16", c.String("kv-type"))
	}
	return t, nil
}
