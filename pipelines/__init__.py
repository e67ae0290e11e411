"""End-to-end flows that compose both packages (DESIGN.md: only ``pipelines`` and the tests
import the higher layers of ``hpt_data`` and ``hpt_model`` together): pose transfer of one
image, a motion video from a pose sequence, and evaluation with SSIM, LPIPS and occlusion
state accuracy."""
