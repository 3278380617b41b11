package tokenizer_test

import (
	"fmt"
	"log"
	"os"

	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// Example loads the tokenizer files of a Hugging Face Gemma 3 checkpoint, renders a chat
// prompt and streams the decoding of generated ids.
func Example() {
	tokJSON, err := os.ReadFile("gemma-3-1b-it/tokenizer.json")
	if err != nil {
		log.Fatal(err)
	}
	cfgJSON, err := os.ReadFile("gemma-3-1b-it/tokenizer_config.json")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.Load(tokJSON, cfgJSON)
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tokenizer.RenderChat([]tokenizer.Message{
		{Role: "system", Content: []tokenizer.Part{{Type: "text", Text: "Answer briefly."}}},
		{Role: "user", Content: []tokenizer.Part{{Type: "text", Text: "Name three primary colors."}}},
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode(prompt, false) // the prompt already starts with <bos>
	fmt.Println(len(ids))

	d := tok.NewStreamDecoder(true)
	for _, id := range []int32{9264, 236764, 7070, 532, 3730, 236761, 106} {
		if id == tok.EndOfTurn() {
			break
		}
		fmt.Print(d.Add(id))
	}
	fmt.Println(d.Flush())
}
