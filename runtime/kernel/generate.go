package kernel

// The amd64 assembly that follows a shared loop shape is generated with avo by the module in
// _asm (the go tool ignores directories starting with "_"); its Go declarations, with the Go
// loop each routine implements, are generated beside it. .ci/run regenerates both and fails
// if they differ from the committed files.
//
//go:generate sh -c "cd _asm && go run . -op elem -out ../matvec_elem_amd64.s -stubs ../matvec_elem_stubs_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run . -op bf16 -out ../gemm_bf16_amd64.s -stubs ../gemm_bf16_stubs_amd64.go -pkg kernel"
