"""Developer-only: lets transformers 4.48's ModernBERT run on Debian's torch 1.13 (scripts only).

Import it before transformers. ModernBERT decorates methods with @torch.compile (torch 2), used only
when config.reference_compile is true, and builds nn.LayerNorm(..., bias=norm_bias) (torch 2.1).
On torch 1.13 this gives torch a torch.compile that returns the function unchanged (the scripts run
with reference_compile false and attn_implementation "eager", so the compiled paths never run) and
an nn.LayerNorm that takes bias= and, with bias=False, has no bias, as torch 2.1's does.
"""
import torch

if not hasattr(torch, "compile"):
    torch.compile = lambda *args, **kwargs: (lambda fn: fn)

if "bias" not in torch.nn.LayerNorm.__init__.__code__.co_varnames:
    class _LayerNorm(torch.nn.LayerNorm):
        def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, **kwargs):
            super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine, **kwargs)
            if not bias:
                self.bias = None  # F.layer_norm without a bias, as torch 2.1's LayerNorm(bias=False)

    torch.nn.LayerNorm = _LayerNorm
