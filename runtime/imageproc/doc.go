// Package imageproc turns encoded images into the pixel_values tensors and the expanded
// prompt text that Gemma 3's vision path expects, reproducing the PIL path of Hugging Face
// transformers' Gemma3ImageProcessor and Gemma3Processor.
//
// The pipeline for one image is:
//
//  1. [Load] decodes PNG, JPEG, GIF (first frame) or WebP, refusing images above
//     [MaxPixels] before any pixel buffer is allocated.
//  2. [ToRGB] converts the decoded image to 8-bit RGB exactly as PIL's
//     Image.convert("RGB") does (alpha is dropped, 16-bit gray saturates at 255, 16-bit
//     color keeps the high byte). That is what transformers' image_transforms.convert_to_rgb,
//     which Gemma3ImageProcessor calls, does. [CompositeOnWhite] reproduces PIL's
//     alpha_composite onto an opaque white background instead, as some other HF
//     processors (Idefics2, Mllama) do; [Config.FlattenAlpha] selects it.
//  3. Optional pan & scan ([PanAndScanCrops]) cuts the RGB image into 2–4 crops.
//  4. [ResizeBilinear] resizes each image or crop to Config.Width×Config.Height with
//     PIL's Image.resize(size, BILINEAR, reducing_gap=None), bit for bit: a separable
//     triangle filter whose support widens with the downscale factor, fixed-point
//     coefficients with 22 fractional bits, horizontal pass first with an 8-bit clip in
//     between.
//  5. [Normalize] rescales uint8·(1/255) in float64, stores float32, then computes
//     (x − mean)/std in float32 and lays the result out channels first ([3, H, W]).
//
// [Preprocess] runs steps 2–5. [ExpandPrompt] rewrites the prompt text the way
// Gemma3Processor does, and [TokenTypeIDs] and [ImageRuns] derive the image masks from
// the tokenized ids.
//
// Bit-exactness: for PNG, GIF and lossless WebP input the decoded pixels are identical to
// PIL's, so pixel_values match HF bit for bit. Baseline JPEG and lossy WebP are decoded by
// Go's decoders, whose IDCT, chroma upsampling and YCbCr→RGB rounding differ from
// libjpeg-turbo's and libwebp's, so those pixels (not the resize or normalisation) can
// differ from PIL's by a few levels.
package imageproc
