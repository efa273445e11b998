// A KrakenD-style revocation client for the tests: Go's net/rpc with the gob codec and structs with
// the field names of krakend/bloomfilter's rpc package. Every call goes over one connection.
//
//	client ADDR add ELEM... -- check ELEM... -- union -- call METHOD
//
// prints one JSON line per call: {"count": N}, {"checks": [...]} or {"error": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"net/rpc"
	"os"
)

type AddInput struct{ Elems [][]byte }
type AddOutput struct{ Count int }
type CheckInput struct{ Elems [][]byte }
type CheckOutput struct{ Checks []bool }

// Filter stands for rotate.Bloomfilter: a type that marshals itself.
type Filter struct{}

func (f *Filter) MarshalBinary() ([]byte, error) { return []byte("filter bytes"), nil }

type UnionInput struct{ BF *Filter }
type UnionOutput struct{ Capacity float64 }

func show(v map[string]interface{}) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

func main() {
	client, err := rpc.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer client.Close()
	args := os.Args[2:]
	for len(args) > 0 {
		op := args[0]
		var elems [][]byte
		i := 1
		for ; i < len(args) && args[i] != "--"; i++ {
			elems = append(elems, []byte(args[i]))
		}
		if i < len(args) {
			i++
		}
		args = args[i:]
		switch op {
		case "add":
			var out AddOutput
			if err := client.Call("BloomfilterRPC.Add", AddInput{elems}, &out); err != nil {
				show(map[string]interface{}{"error": err.Error()})
			} else {
				show(map[string]interface{}{"count": out.Count})
			}
		case "check":
			var out CheckOutput
			if err := client.Call("BloomfilterRPC.Check", CheckInput{elems}, &out); err != nil {
				show(map[string]interface{}{"error": err.Error()})
			} else {
				show(map[string]interface{}{"checks": out.Checks})
			}
		case "union":
			var out UnionOutput
			err := client.Call("BloomfilterRPC.Union", UnionInput{&Filter{}}, &out)
			show(map[string]interface{}{"error": fmt.Sprint(err)})
		case "call":
			var out AddOutput
			err := client.Call(string(elems[0]), AddInput{elems}, &out)
			show(map[string]interface{}{"error": fmt.Sprint(err)})
		}
	}
}
