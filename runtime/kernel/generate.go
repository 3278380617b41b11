package kernel

// The amd64 assembly that follows a shared loop shape is generated with avo by the module in
// _asm (the go tool ignores directories starting with "_"); its Go declarations, with the Go
// loop each routine implements, are generated beside it. .ci/run regenerates both and fails
// if they differ from the committed files.
//
//go:generate sh -c "cd _asm && go run . -op actquant -out ../actquant_amd64.s -stubs ../actquant_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op int8rows -out ../int8rows_amd64.s -stubs ../int8rows_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op int8gemm -out ../int8gemm_amd64.s -stubs ../int8gemm_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op int8multi -out ../int8multi_amd64.s -stubs ../int8multi_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op elem -out ../matvec_elem_amd64.s -stubs ../matvec_elem_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op block -out ../matvec_block_amd64.s -stubs ../matvec_block_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op matvec_nib -out ../matvec_nib_amd64.s -stubs ../matvec_nib_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op dequant -out ../dequant_amd64.s -stubs ../dequant_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op gemm -out ../gemm_amd64.s -stubs ../gemm_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op vec -out ../vec_amd64.s -stubs ../vec_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op vecmath -out ../vecmath_amd64.s -stubs ../vecmath_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op encode -out ../encode_amd64.s -stubs ../encode_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op kquant -out ../kquant_amd64.s -stubs ../kquant_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op bf16 -out ../gemm_bf16_amd64.s -stubs ../gemm_bf16_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op bf16wide -out ../bf16wide_amd64.s -stubs ../bf16wide_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op softmaxbf16 -out ../softmaxbf16_amd64.s -stubs ../softmaxbf16_stubs_amd64.go -pkg kernel"
