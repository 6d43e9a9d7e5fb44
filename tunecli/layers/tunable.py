"""Tunable layers: banks of p kernels mixed by a tuning vector ω.

Every layer uses the affine parametrization ``K(ω) = K0 + Σ ωi ΔKi``; with ``affine=False``
there is no ``K0`` and ``K(ω) = Σ ωi Ki`` is the paper's plain convex mix.

ω is an explicit argument of every ``forward`` (:class:`OmegaModule`), passed down by the
architectures and by :class:`TunableSequential`; no layer keeps it as state. It has shape
``(p,)`` (one ω for the whole batch: kernels are mixed once and one ordinary convolution runs)
or ``(B, p)`` (one ω per sample: per-sample kernels run as a grouped convolution / batched
matmul). :func:`bake` replaces every tunable layer by its plain counterpart at one ω; the baked
layers still accept (and ignore) an ``omega`` argument, so a baked network is called as
``net(x)`` through the same code path.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _fan_in_uniform_(bank: Tensor, fan_in: int) -> None:
    """Kaiming-uniform (a=√5) bounds of ``nn.Conv2d``/``nn.Linear``, computed per kernel."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    with torch.no_grad():
        bank.uniform_(-bound, bound)


class OmegaModule(nn.Module):
    """A module whose ``forward`` takes the tuning vector: ``forward(x, omega)``.

    ``omega``: ``(p,)``, ``(B, p)`` or ``None`` (allowed only once every tunable layer below is
    baked). :class:`TunableSequential` passes ω to the children that are ``OmegaModule`` instances and
    calls the others as ``child(x)``.
    """


class TunableSequential(OmegaModule, nn.Sequential):
    """``nn.Sequential`` that passes ω on to its :class:`OmegaModule` children (same state-dict
    keys as ``nn.Sequential``)."""

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        for module in self:
            x = module(x, omega) if isinstance(module, OmegaModule) else module(x)
        return x


def check_omega(omega: Tensor | None, p: int, batch: int | None = None) -> Tensor:
    """Validate a tuning vector for a layer of ``p`` kernels: ``(p,)`` or ``(B, p)`` (a ``(1, p)``
    batch becomes ``(p,)``); with ``batch`` a per-sample ω must have ``batch`` rows.
    Raises ``RuntimeError`` for ``None`` and ``ValueError`` for a wrong shape."""
    if omega is None:
        raise RuntimeError("no tuning vector: call the network as net(x, omega) or bake it first")
    if omega.dim() == 2 and omega.shape[0] == 1:
        omega = omega[0]
    if omega.dim() == 4 and omega.shape[1] == p:  # a spatial map (B, p, H, W): see TunableConv2d
        if batch is not None and omega.shape[0] not in (1, batch):
            raise ValueError(f"the alpha map has {omega.shape[0]} samples for a batch of {batch}")
        return omega
    if omega.dim() not in (1, 2) or omega.shape[-1] != p:
        raise ValueError(f"omega must have shape (p,) or (B, p) with p={p}, got {tuple(omega.shape)}")
    if batch is not None and omega.dim() == 2 and omega.shape[0] != batch:
        raise ValueError(f"per-sample omega has {omega.shape[0]} rows for a batch of {batch}")
    return omega


class TunableModule(OmegaModule):
    """Base of tunable layers: parameter banks mixed by the ω passed to ``forward``.

    A bank has shape ``(p, *shape)``; with ``affine`` the layer also holds a base of ``shape``.
    """

    #: (bank, base) attribute names: a bank ``(p, *S)`` mixed by ω, its affine base ``(*S)`` or None
    banks: tuple[tuple[str, str], ...] = (("weight", "weight0"), ("bias", "bias0"))

    def __init__(self, p: int, affine: bool) -> None:
        super().__init__()
        if p < 1:
            raise ValueError("a tunable layer needs p >= 1 kernels")
        self.p = p
        self.affine = affine

    def _init_banks(self, shape: tuple[int, ...], out_features: int, fan_in: int, bias: bool) -> None:
        """Create ``weight`` ``(p, *shape)`` and ``bias`` ``(p, out)`` banks, fan-in initialized per
        kernel; with ``affine`` also the base ``weight0``/``bias0``, the deltas scaled down so
        every ω starts near the well-initialized base network."""
        self.weight = nn.Parameter(torch.empty(self.p, *shape))
        _fan_in_uniform_(self.weight, fan_in)
        self.bias = nn.Parameter(torch.empty(self.p, out_features)) if bias else None
        if self.bias is not None:
            _fan_in_uniform_(self.bias, fan_in)
        self.weight0: nn.Parameter | None = None
        self.bias0: nn.Parameter | None = None
        if self.affine:
            self.weight0 = nn.Parameter(torch.empty(shape))
            _fan_in_uniform_(self.weight0, fan_in)
            if bias:
                self.bias0 = nn.Parameter(torch.empty(out_features))
                _fan_in_uniform_(self.bias0, fan_in)
            with torch.no_grad():
                self.weight.mul_(0.1)
                if self.bias is not None:
                    self.bias.mul_(0.1)

    def mix(self, bank: Tensor, base: Tensor | None, omega: Tensor) -> Tensor:
        """Mix ``bank`` (p, *S) with ω (p,) → (*S) or ω (B, p) → (B, *S)."""
        w = omega.to(bank.dtype)
        flat = bank.reshape(self.p, -1)
        if w.dim() == 1:
            mixed = (w @ flat).reshape(bank.shape[1:])
        else:
            mixed = (w @ flat).reshape((w.shape[0], *bank.shape[1:]))
        if base is not None:
            mixed = mixed + base
        return mixed

    def baked(self, omega: Tensor) -> nn.Module:
        """A plain module computing this layer at one shared ω ``(p,)`` (its ``forward`` ignores ω)."""
        raise NotImplementedError

    def _shared(self, omega: Tensor) -> Tensor:
        omega = check_omega(omega, self.p)
        if omega.dim() != 1:
            raise ValueError("bake needs one shared omega, not a per-sample batch")
        return omega


class TunableConv2d(TunableModule):
    """``nn.Conv2d`` with a bank of p kernels and p biases.

    Input ``(B, C_in, H, W)`` float; output ``(B, C_out, H', W')`` as ``nn.Conv2d`` would give.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        p: int,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        affine: bool = False,
    ) -> None:
        super().__init__(p, affine)
        # A plain conv is the single source of truth for argument handling and geometry.
        self.template = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode
        )
        shape = tuple(self.template.weight.shape)
        self._init_banks(shape, out_channels, shape[1] * shape[2] * shape[3], bias)
        # The template holds no trainable state of its own.
        del self.template.weight
        if bias:
            del self.template.bias
        self.template.weight = None  # type: ignore[assignment]
        self.template.bias = None

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int] | str]:
        t = self.template
        if t.padding_mode == "zeros":
            return x, t.padding  # type: ignore[return-value]
        return F.pad(x, t._reversed_padding_repeated_twice, mode=t.padding_mode), 0  # type: ignore[arg-type]

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        omega = check_omega(omega, self.p, x.shape[0]).to(x.device)
        if omega.dim() == 4:
            return self.forward_spatial(x, omega)
        t = self.template
        weight = self.mix(self.weight, self.weight0, omega)
        bias = self.mix(self.bias, self.bias0, omega) if self.bias is not None else None
        x, padding = self._pad(x)
        if omega.dim() == 1:
            return F.conv2d(x, weight, bias, t.stride, padding, t.dilation, t.groups)
        batch = x.shape[0]
        out_ch = weight.shape[1]
        y = F.conv2d(
            x.reshape(1, batch * x.shape[1], *x.shape[2:]),
            weight.reshape(batch * out_ch, *weight.shape[2:]),
            None if bias is None else bias.reshape(-1),
            t.stride,
            padding,
            t.dilation,
            t.groups * batch,
        )
        return y.reshape(batch, out_ch, *y.shape[2:])

    def forward_spatial(self, x: Tensor, omega_map: Tensor) -> Tensor:
        """The layer with a tuning vector per pixel: ``omega_map`` ``(B or 1, p, h, w)`` at any
        resolution is resized to this layer's output (bilinear, antialiased when shrinking) and

            out(q) = K0∗x(q) + Σᵢ ωᵢ(q)·(Kᵢ∗x)(q)    (K0 = 0 and biases alike without ``affine``)

        — the exact extension of the layer to spatial ω: a tunable conv is linear in ω, so
        mixing the p outputs per pixel equals mixing the kernels per pixel. A constant map
        gives the uniform-ω output; the cost is about (p + 1)× a plain conv."""
        t = self.template
        if t.groups != 1:
            raise ValueError("a per-pixel alpha map needs convolutions without groups")
        x, padding = self._pad(x)
        p, out_ch = self.p, self.weight.shape[1]
        bank = self.weight.to(x.dtype).reshape(p * out_ch, *self.weight.shape[2:])
        bias = None if self.bias is None else self.bias.to(x.dtype).reshape(-1)
        y = F.conv2d(x, bank, bias, t.stride, padding, t.dilation)
        y = y.reshape(y.shape[0], p, out_ch, *y.shape[2:])
        size = tuple(y.shape[-2:])
        if tuple(omega_map.shape[-2:]) != size:
            shrink = omega_map.shape[-2] > size[0] or omega_map.shape[-1] > size[1]
            omega_map = F.interpolate(
                omega_map.float(), size=size, mode="bilinear", align_corners=False, antialias=shrink
            )
        mixed = (omega_map.to(y.dtype)[:, :, None] * y).sum(dim=1)
        if self.weight0 is not None:
            base_bias = None if self.bias0 is None else self.bias0.to(x.dtype)
            mixed = mixed + F.conv2d(x, self.weight0.to(x.dtype), base_bias, t.stride, padding, t.dilation)
        return mixed

    def baked(self, omega: Tensor) -> FixedConv2d:
        omega = self._shared(omega)
        t = self.template
        conv = FixedConv2d(
            t.in_channels,
            t.out_channels,
            t.kernel_size,  # type: ignore[arg-type]
            t.stride,  # type: ignore[arg-type]
            t.padding,  # type: ignore[arg-type]
            t.dilation,  # type: ignore[arg-type]
            t.groups,
            self.bias is not None,
            t.padding_mode,
        ).to(self.weight.device, self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.mix(self.weight, self.weight0, omega))
            if self.bias is not None and conv.bias is not None:
                conv.bias.copy_(self.mix(self.bias, self.bias0, omega))
        return conv

    def extra_repr(self) -> str:
        return f"p={self.p}, affine={self.affine}, {self.template.extra_repr()}"


class TunableLinear(TunableModule):
    """``nn.Linear`` with a bank of p weights; input ``(B, ..., in)`` → ``(B, ..., out)``."""

    def __init__(self, in_features: int, out_features: int, p: int, bias: bool = True, affine: bool = False) -> None:
        super().__init__(p, affine)
        self.in_features = in_features
        self.out_features = out_features
        self._init_banks((out_features, in_features), out_features, in_features, bias)

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        omega = check_omega(omega, self.p, x.shape[0]).to(x.device)
        weight = self.mix(self.weight, self.weight0, omega)
        bias = self.mix(self.bias, self.bias0, omega) if self.bias is not None else None
        if omega.dim() == 1:
            return F.linear(x, weight, bias)
        batch = x.shape[0]
        flat = x.reshape(batch, -1, self.in_features)
        y = torch.bmm(flat, weight.transpose(1, 2))
        if bias is not None:
            y = y + bias[:, None, :]
        return y.reshape(*x.shape[:-1], self.out_features)

    def baked(self, omega: Tensor) -> FixedLinear:
        omega = self._shared(omega)
        lin = FixedLinear(self.in_features, self.out_features, self.bias is not None).to(
            self.weight.device, self.weight.dtype
        )
        with torch.no_grad():
            lin.weight.copy_(self.mix(self.weight, self.weight0, omega))
            if self.bias is not None:
                lin.bias.copy_(self.mix(self.bias, self.bias0, omega))
        return lin

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, p={self.p}, affine={self.affine}"


class TunableParameter(TunableModule):
    """A tunable tensor (e.g. a layer scale). ``forward()`` returns ``(1, *shape)`` for a
    shared ω and ``(B, *shape)`` for per-sample ω, ready to broadcast against a batch."""

    banks = (("value", "value0"),)

    def __init__(self, shape: tuple[int, ...], p: int, init: float = 1.0, affine: bool = False) -> None:
        super().__init__(p, affine)
        self.shape = tuple(shape)
        if affine:
            self.value0 = nn.Parameter(torch.full(self.shape, float(init)))
            self.value = nn.Parameter(torch.zeros(p, *self.shape))
        else:
            self.value0 = None
            self.value = nn.Parameter(torch.full((p, *self.shape), float(init)))

    def forward(self, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        omega = check_omega(omega, self.p).to(self.value.device)
        mixed = self.mix(self.value, self.value0, omega)
        return mixed.unsqueeze(0) if omega.dim() == 1 else mixed

    def baked(self, omega: Tensor) -> FixedParameter:
        omega = self._shared(omega)
        with torch.no_grad():
            return FixedParameter(self.forward(omega).detach().clone())

    def extra_repr(self) -> str:
        return f"shape={self.shape}, p={self.p}, affine={self.affine}"


class FixedConv2d(nn.Conv2d, OmegaModule):
    """A baked :class:`TunableConv2d`: a plain ``nn.Conv2d`` whose ``forward`` ignores ω."""

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)


class FixedLinear(nn.Linear, OmegaModule):
    """A baked :class:`TunableLinear`: a plain ``nn.Linear`` whose ``forward`` ignores ω."""

    def forward(self, x: Tensor, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)


class FixedParameter(OmegaModule):
    """A baked :class:`TunableParameter`: ``forward()`` returns the stored ``(1, *shape)`` tensor."""

    def __init__(self, value: Tensor) -> None:
        super().__init__()
        self.value = nn.Parameter(value)

    def forward(self, omega: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.value


def tunable_modules(model: nn.Module) -> Iterator[TunableModule]:
    """Every tunable layer of ``model``."""
    for module in model.modules():
        if isinstance(module, TunableModule):
            yield module


def remap_omega(
    target: nn.Module, source: nn.Module, offset: Sequence[float], matrix: Sequence[Sequence[float]]
) -> None:
    """Set ``target``'s weights so that ``target(x, ω') == source(x, offset + matrix @ ω')`` for
    every ω': a warm start across alpha spaces (e.g. a denoiser's simplex into a deblurrer's box).

    Every tunable layer is linear in ω (``K(ω) = K0 + Σ ωj ΔKj``), so substituting the affine map
    ``ω = c + M ω'`` gives ``K0 + Σ cj ΔKj + Σi ω'i (Σj Mji ΔKj)``: the target's base is
    ``K0 + Σj cj ΔKj`` and its i-th bank entry ``Σj Mji ΔKj``, exactly, layer by layer, so the
    whole network computes the same. ``offset`` has the source's p entries, ``matrix`` is
    ``(p_source, p_target)``. The target must be the same architecture with affine tunable layers
    (a plain convex mix has no base to hold the offset); parameters outside tunable layers are
    copied. Raises ``ValueError`` when the two networks or the map do not fit.
    """
    state = source.state_dict()
    new_state: dict[str, Tensor] = {}
    names = dict(target.named_modules())
    for name, module in source.named_modules():
        if not isinstance(module, TunableModule):
            continue
        other = names.get(name)
        if not isinstance(other, TunableModule) or type(other) is not type(module):
            raise ValueError(f"the target has no tunable layer {name!r} like the source's")
        if not other.affine:
            raise ValueError(f"tunable layer {name!r} of the target is not affine: it cannot hold the offset")
        c = torch.tensor(offset, dtype=torch.float64)
        m = torch.tensor(matrix, dtype=torch.float64)
        if c.shape != (module.p,) or m.shape != (module.p, other.p):
            raise ValueError(
                f"the map needs an offset of {module.p} and a {module.p}x{other.p} matrix, "
                f"not {tuple(c.shape)} and {tuple(m.shape)}"
            )
        prefix = f"{name}." if name else ""
        for bank_name, base_name in module.banks:
            bank = getattr(module, bank_name)
            if bank is None:
                continue
            flat = bank.detach().double().reshape(module.p, -1)
            base = getattr(module, base_name)
            new_base = c @ flat + (0.0 if base is None else base.detach().double().reshape(-1))
            new_state[prefix + base_name] = new_base.reshape(bank.shape[1:]).to(bank.dtype)
            new_state[prefix + bank_name] = (m.T @ flat).reshape((other.p, *bank.shape[1:])).to(bank.dtype)
            state.pop(prefix + bank_name, None)
            state.pop(prefix + base_name, None)
    new_state.update(state)  # everything outside the tunable layers, as it is
    try:
        target.load_state_dict(new_state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"the networks differ outside their tunable layers: {error}") from None


def bake(model: nn.Module, omega: Tensor) -> nn.Module:
    """A copy of ``model`` whose tunable layers are plain layers with kernels mixed at ``omega``.

    ``omega`` has shape ``(p,)``. The copy has no tunable layers, so running it costs exactly
    a plain network; ``model`` itself is unchanged.
    """
    if omega.dim() != 1:
        raise ValueError("bake needs one omega of shape (p,)")
    replacements = {
        name: module.baked(omega) for name, module in model.named_modules() if isinstance(module, TunableModule)
    }
    memo = {id(m): None for m in tunable_modules(model)}
    baked_model = copy.deepcopy(model, memo)  # tunable layers are replaced, not copied
    for name, module in replacements.items():
        if name == "":
            return module
        parent_name, _, child = name.rpartition(".")
        parent = baked_model.get_submodule(parent_name) if parent_name else baked_model
        setattr(parent, child, module)
    return baked_model
