"""Lecture steps for topics 17-21: GANs, CGAN, CycleGAN, ProGAN, WGAN.

Answers come from the lab's GAN code: the generator losses of `core.models.gan2d` (differentiated by autograd),
the fade-in blend of `core.models.progan.real_at`, and the exact distances of `core.models.wgan_distances`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.lecture import links
from core.lecture._shared import D2L_GAN, fmt, fmt_matrix, rng, shuffled
from core.lecture.figures import Line, Text, fit, matrix
from core.lecture.model import Question, Step

# --- 17. GAN ---------------------------------------------------------------------------------------------------


def ask_gan_objective(variant: int) -> Question:
    options, answer = shuffled(variant, "gan-objective", "log D(G(z))", [
        "−log(1 − D(G(z)))",
        "log(1 − D(G(z)))",
        "D(x) − D(G(z))",
    ])
    return Question(
        kind="choice",
        text="The discriminator $D$ outputs the probability that its input is real. In practice, what does the "
             "generator $G$ **maximise**?",
        options=options,
        answer=answer,
        explanation=(
            "The game asks $G$ to maximise $D$'s error on fakes, $-\\log(1 - D(G(z)))$. But early in training $D$ "
            "rejects fakes easily, $D(G(z)) \\approx 0$, and that objective is flat there: its gradient vanishes "
            "and $G$ barely learns. So $G$ maximises $\\log D(G(z))$ instead, which is $D$'s own cross-entropy "
            "with the label flipped to *real*: it pushes $D(G(z))$ up like the original, and hardest when $G$ is "
            "losing. Maximising $\\log(1 - D(G(z)))$ would help $D$; $D(x) - D(G(z))$ is the shape of a WGAN "
            "critic's objective, not the generator's."
        ),
        link=links.gan_lab("nonsaturating"),
    )


GAN_OBJECTIVE = Step(
    id="gan-objective",
    topics=(17,),
    title="Generative adversarial networks",
    idea=(
        "A discriminative model learns to label data; a generative model learns to produce new data like it. In a "
        "GAN a generator $G$ turns random noise $z$ into samples, and a discriminator $D$ estimates the "
        "probability that its input is real. $D$ is trained with cross-entropy to tell real ($y = 1$) from "
        "generated ($y = 0$), and $G$ to fool $D$: the two compete until the fakes look like the data."
    ),
    formula=r"\min_D\; \big\{ -y \log D(\mathbf{x}) - (1 - y) \log\big(1 - D(\mathbf{x})\big) \big\}",
    source=("d2l 20.1 Generative Adversarial Networks", D2L_GAN + "gan.html"),
    ask=ask_gan_objective,
)

VANISHING_D = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.4)


def gan_gradient_setup(variant: int) -> float:
    """D(G(z)), the discriminator's probability that a fake is real."""
    return 0.01 if variant == 0 else float(rng(variant, "gan-gradient").choice(VANISHING_D))


def logit_gradients(d_fake: float) -> tuple[float, float]:
    """d/da of the generator's two objectives at D = sigmoid(a) = d_fake, through the lab's loss functions:
    (saturating log(1 - D), non-saturating log D). `generator_loss_per_sample` returns what G *minimises*."""
    from core.models.gan2d import generator_loss_per_sample

    logit = torch.tensor([[math.log(d_fake / (1 - d_fake))]], dtype=torch.float64, requires_grad=True)
    saturating = generator_loss_per_sample("minimax", logit).sum()  # log(1 - D), minimised by G
    (grad_saturating,) = torch.autograd.grad(saturating, logit)
    non_saturating = -generator_loss_per_sample("nonsaturating", logit).sum()  # log D, maximised by G
    (grad_non_saturating,) = torch.autograd.grad(non_saturating, logit)
    return float(grad_saturating), float(grad_non_saturating)


def _loss_curves_figure(d_fake: float):
    width, per_unit, font = 400.0, 40.0, 16.0
    xs = np.linspace(0.005, 0.995, 120)

    def point(d: float, value: float) -> tuple[float, float]:
        return d * width, -value * per_unit

    shapes = [Line(0, 0, width, 0, "frame"), Line(0, 0, 0, 5.5 * per_unit, "frame"),
              Text(-4, 0.3 * font, "0", 0.9, "end"), Text(-4, 5 * per_unit + 0.3 * font, "−5", 0.9, "end"),
              Text(width, -0.4 * font, "D(G(z)) → 1", 0.9, "end")]
    for curve, role, label, at in ((np.log(xs), "a", "log D", 0.12), (np.log(1 - xs), "b", "log(1 − D)", 0.75)):
        for (d0, v0), (d1, v1) in zip(zip(xs[:-1], curve[:-1]), zip(xs[1:], curve[1:])):
            if min(v0, v1) > -5.5:
                shapes.append(Line(*point(d0, v0), *point(d1, v1), role))
        x, y = point(at, float(np.interp(at, xs, curve)))
        shapes.append(Text(x + 6, y + (1.2 * font if role == "a" else -0.5 * font), label, 1.0, "start", role))
    x = d_fake * width
    shapes += [Line(x, 0, x, 5.5 * per_unit, "muted"),
               Text(x + 6, 3.2 * per_unit, f"D(G(z)) = {fmt(d_fake)}", 0.9, "start")]
    return fit(shapes, "The curves log D and log(1 − D) for D between 0 and 1, with a vertical line at the "
                       "discriminator's output for the fake.", font)


def ask_gan_gradient(variant: int) -> Question:
    d_fake = gan_gradient_setup(variant)
    saturating, non_saturating = logit_gradients(d_fake)
    answer = abs(non_saturating) / abs(saturating)
    return Question(
        kind="number",
        text=(f"The discriminator gives a fake $D(G(z)) = {fmt(d_fake)}$. Write $D = \\sigma(a)$ with the logit $a$. "
              "How many times larger is the gradient of $\\log D(G(z))$ with respect to $a$ than that of "
              "$\\log(1 - D(G(z)))$?"),
        answer=answer,
        tolerance=round(0.02 * answer, 6),
        explanation=(
            f"$\\frac{{d}}{{da}} \\log(1 - \\sigma(a)) = -\\sigma(a) = {fmt(saturating)}$, while "
            f"$\\frac{{d}}{{da}} \\log \\sigma(a) = 1 - \\sigma(a) = {fmt(non_saturating)}$: the ratio is "
            f"$(1 - D)/D = {fmt(answer)}$. When $D$ confidently rejects a fake, the original objective hands $G$ "
            "almost nothing to learn from, while the practical one gives it an almost full-size gradient. The two "
            "agree only as $D(G(z))$ approaches 0.5."
        ),
        link=links.gan_lab("minimax"),
        figure=_loss_curves_figure(d_fake),
        params={"d_fake": d_fake},
    )


GAN_GRADIENT = Step(
    id="gan-gradient",
    topics=(17,),
    title="GANs: why the generator's loss is changed",
    idea=(
        "Taken literally, the game has the generator minimise $\\log(1 - D(G(z)))$. When the discriminator wins, "
        "the fakes get $D(G(z))$ close to 0, where that curve is almost flat. Maximising $\\log D(G(z))$ has the "
        "same goal and the same fixed point, but a steep slope exactly there."
    ),
    formula=r"\frac{\partial}{\partial a} \log\big(1 - \sigma(a)\big) = -\sigma(a), \qquad "
            r"\frac{\partial}{\partial a} \log \sigma(a) = 1 - \sigma(a)",
    source=("d2l 20.1 Generative Adversarial Networks", D2L_GAN + "gan.html"),
    ask=ask_gan_gradient,
)


# --- 18. CGAN --------------------------------------------------------------------------------------------------


def ask_cgan(variant: int) -> Question:
    digit = 3 if variant == 0 else int(rng(variant, "cgan").integers(10))
    article = "an" if digit == 8 else "a"
    options, answer = shuffled(variant, "cgan", "A one-hot label y is concatenated to its noise z", [
        "A separate generator is trained for each class",
        "The label replaces the noise vector z",
        "Only the discriminator ever sees the label",
    ])
    return Question(
        kind="choice",
        text=f"A conditional GAN trained on handwritten digits is asked for {article} {digit}. How does its "
             "generator know which digit to draw?",
        options=options,
        answer=answer,
        explanation=(
            f"The class enters as data: the generator's input is $[z; y]$, with $y$ the one-hot vector of {digit} "
            "(ten numbers, a single 1). The discriminator also receives $y$ with the image, and learns to reject an "
            f"image that does not match its label, so $G$ must draw {article} {digit} to fool it. $z$ still chooses "
            "the style: without it every request would give the same image. One network serves all ten classes."
        ),
        link=links.generative("cgan", digit=digit),
        params={"digit": digit},
    )


CGAN = Step(
    id="cgan",
    topics=(18,),
    title="Conditional GAN",
    idea=(
        "A GAN trained on every class at once gives no say over which class it draws, and a weak one mixes "
        "classes into blurry half-breeds. A conditional GAN gives both networks the label: the generator learns "
        "to draw the class it is asked for, the discriminator to judge whether an image fits its label."
    ),
    formula=r"G\big([\mathbf{z};\ \mathrm{onehot}(y)]\big), \qquad D(\mathbf{x}, y)",
    source=("Mirza and Osindero 2014, Conditional GANs", "https://arxiv.org/abs/1411.1784"),
    ask=ask_cgan,
)


# --- 19. CycleGAN ----------------------------------------------------------------------------------------------


def ask_cyclegan(variant: int) -> Question:
    options, answer = shuffled(variant, "cyclegan", "A cycle loss: F(G(x)) must give back x", [
        "The discriminator of the painting domain",
        "Pairs of photos and their paintings",
        "A pixel loss between x and G(x)",
    ])
    return Question(
        kind="choice",
        text="CycleGAN learns photos → Monet paintings ($G$) and back ($F$) from two unpaired collections. What "
             "keeps $G$ from turning every photo into the same convincing painting?",
        options=options,
        answer=answer,
        explanation=(
            "The painting discriminator only checks that $G(x)$ looks like a Monet, and one good Monet would pass "
            "for every photo. The cycle-consistency loss forbids it: translating a photo to a painting and back "
            "must return the photo, $F(G(x)) \\approx x$ (and $G(F(y)) \\approx y$), so $G(x)$ has to keep what is "
            "in $x$. There are no pairs to learn from, and a pixel loss between $x$ and $G(x)$ would forbid "
            "changing the style at all."
        ),
        link=links.generative("cyclegan", direction="A->B"),
    )


CYCLEGAN = Step(
    id="cyclegan",
    topics=(19,),
    title="CycleGAN",
    idea=(
        "CycleGAN learns to translate images between two domains, such as photos and Monet paintings or day and "
        "night, without any pairs: only a collection of each. Two generators, $G$ from A to B and $F$ from B to A, "
        "each try to fool a discriminator of their target domain."
    ),
    formula=r"\mathcal{L}_{\text{cyc}} = \lVert F(G(\mathbf{x})) - \mathbf{x} \rVert_1 + "
            r"\lVert G(F(\mathbf{y})) - \mathbf{y} \rVert_1",
    source=("Zhu et al. 2017, CycleGAN", "https://arxiv.org/abs/1703.10593"),
    ask=ask_cyclegan,
)


# --- 20. ProGAN ------------------------------------------------------------------------------------------------

PROGAN_STAGES = 4
"""The lab's ProGAN grows 4 x 4 -> 8 x 8 -> 16 x 16 -> 32 x 32 (stages 0..3)."""


def progan_setup(variant: int) -> tuple[float, tuple[tuple[float, float], tuple[float, float]]]:
    """(alpha, a 2 x 2 block of a real 32 x 32 image)."""
    if variant == 0:
        return 0.25, ((1.0, 0.0), (0.0, 0.2))
    g = rng(variant, "progan")
    alpha = float(round(0.05 * int(g.integers(2, 19)), 2))
    while True:  # a block whose top-left pixel is its average would not depend on alpha: draw again
        block = np.round(g.integers(0, 11, size=(2, 2)) * 0.1, 1)
        if abs(block[0, 0] - block.mean()) > 0.05:
            return alpha, ((float(block[0, 0]), float(block[0, 1])), (float(block[1, 0]), float(block[1, 1])))


def faded_pixel(alpha: float, block: tuple[tuple[float, float], tuple[float, float]]) -> float:
    """The top-left pixel the discriminator sees during the 32 x 32 fade-in, by the lab's `real_at`."""
    from core.models.progan import real_at

    image = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    image[0, 0, :2, :2] = torch.tensor(block, dtype=torch.float64)
    return float(real_at(image, PROGAN_STAGES - 1, alpha, PROGAN_STAGES)[0, 0, 0, 0])


def ask_progan(variant: int) -> Question:
    alpha, block = progan_setup(variant)
    answer = faded_pixel(alpha, block)
    mean = sum(block[0] + block[1]) / 4
    cell, font = 60.0, 18.0
    shapes = matrix(block, 0, 0, cell, "2 × 2 block, 32 × 32 image", unknown=[])
    return Question(
        kind="number",
        text=(f"ProGAN fades in its 32 × 32 layer and is at $\\alpha = {fmt(alpha)}$. The discriminator sees real "
              "images blended the same way as the generator's output: $\\alpha$ times the 32 × 32 image plus "
              "$(1 - \\alpha)$ times its 16 × 16 average-pooled version, upsampled. One 2 × 2 block of a real image "
              f"is ${fmt_matrix(block)}$. What value does the discriminator see at the block's top-left pixel?"),
        answer=answer,
        tolerance=0.01,
        explanation=(
            f"At 16 × 16 the block is a single pixel, its average $({' + '.join(fmt(v) for v in block[0] + block[1])})"
            f"/4 = {fmt(mean)}$, which upsampling copies back to all four pixels. The blend: "
            f"${fmt(alpha)} \\cdot {fmt(block[0][0])} + {fmt(1 - alpha)} \\cdot {fmt(mean)} = {fmt(answer)}$. "
            "As $\\alpha$ climbs to 1 the new layer's detail takes over; at $\\alpha = 0$ the networks still work at "
            "the old resolution. So a new layer starts as a small correction, not a shock to a trained network."
        ),
        link=links.generative("progan", stage=3, alpha=alpha),
        figure=fit(shapes, "A 2 by 2 block of pixel values of a real image.", font),
        params={"alpha": alpha, "block": [list(r) for r in block]},
    )


PROGAN = Step(
    id="progan",
    topics=(20,),
    title="Progressive growing (ProGAN)",
    idea=(
        "GAN training is unstable, and more so at high resolution. ProGAN starts with a generator and a "
        "discriminator for 4 × 4 images and adds layers for 8 × 8, 16 × 16, … as training goes on. Each new layer "
        "is faded in: its output is mixed with the upsampled output of the previous resolution, with a weight "
        "$\\alpha$ that grows from 0 to 1."
    ),
    formula=r"\mathbf{x}_\alpha = \alpha\, \mathbf{x}_{\text{new}} + (1 - \alpha)\, "
            r"\mathrm{up}\big(\mathbf{x}_{\text{old}}\big)",
    source=("Karras et al. 2018, Progressive Growing of GANs", "https://arxiv.org/abs/1710.10196"),
    ask=ask_progan,
)


# --- 21. WGAN --------------------------------------------------------------------------------------------------


def wgan_setup(variant: int) -> tuple[float, float]:
    """(theta before, theta after): the generator moves P_theta towards P_0 (same sign, |after| < |before|)."""
    if variant == 0:
        return 0.8, 0.3
    g = rng(variant, "wgan")
    sign = -1.0 if g.random() < 0.5 else 1.0
    while True:
        before = float(round(g.uniform(0.4, 2.0), 2))
        after = max(float(round(before * g.uniform(0.1, 0.8), 2)), 0.01)
        if abs((before - after) - after) >= 0.05:  # else the fall would equal the new theta, shown in the figure
            return sign * before, sign * after


def _segments_figure(before: float, after: float):
    unit, font = 150.0, 16.0
    shapes = [Line(-0.1 * unit + min(0, before, after) * unit, unit, (max(0, before, after) + 0.1) * unit, unit,
                   "frame")]
    segments = ((0.0, "a", "P0"), (before, "muted", f"θ = {fmt(before)}"), (after, "b", f"θ = {fmt(after)}"))
    for x, role, label in segments:
        shapes += [Line(x * unit, 0, x * unit, unit, role),
                   Text(x * unit, -0.5 * font if role != "muted" else unit + 1.3 * font, label, 0.9, "middle", role)]
    shapes.append(Text(min(0, before, after) * unit - 0.2 * unit, unit + 0.35 * font, "x", 0.9, "end"))
    return fit(shapes, f"Two vertical segments: P0 at x = 0 and P theta, moved from {fmt(before)} to {fmt(after)}.",
               font)


def ask_wgan_em(variant: int) -> Question:
    from core.models.wgan_distances import exact_em

    before, after = wgan_setup(variant)
    answer = exact_em(before) - exact_em(after)
    return Question(
        kind="number",
        text=(f"In WGAN's Figure 1, $P_0$ is uniform on the segment $x = 0$, $0 \\le y \\le 1$, and $P_\\theta$ is "
              f"the same segment at $x = \\theta$. The generator moves $\\theta$ from {fmt(before)} to {fmt(after)}. "
              "By how much does the earth-mover distance $W(P_0, P_\\theta)$ fall?"),
        answer=answer,
        tolerance=0.01,
        explanation=(
            f"The cheapest plan moves every point straight sideways, a distance $|\\theta|$, so "
            f"$W(P_0, P_\\theta) = |\\theta|$: {fmt(abs(before))} before and {fmt(abs(after))} after, a fall of "
            f"{fmt(answer)}. The distance shrinks smoothly as the segments approach each other: its slope with "
            "respect to $\\theta$ is ±1 wherever $\\theta \\neq 0$, so it always tells the generator which way to "
            "move."
        ),
        link=links.wgan_figure(after),
        figure=_segments_figure(before, after),
        params={"theta_before": before, "theta_after": after},
    )


WGAN_EM = Step(
    id="wgan-em",
    topics=(21,),
    title="WGAN: the earth-mover distance",
    idea=(
        "With an optimal discriminator, the original GAN makes the generator minimise the Jensen–Shannon "
        "divergence between the data and its samples. WGAN minimises the earth-mover (Wasserstein-1) distance "
        "instead: the least total work, mass times distance moved, that turns one distribution into the other."
    ),
    formula=r"W(P, Q) = \inf_{\gamma \in \Pi(P, Q)} \mathbb{E}_{(\mathbf{x}, \mathbf{y}) \sim \gamma}"
            r"\,\lVert \mathbf{x} - \mathbf{y} \rVert",
    source=("Arjovsky, Chintala and Bottou 2017, Wasserstein GAN", "https://arxiv.org/abs/1701.07875"),
    ask=ask_wgan_em,
)


def ask_wgan_js(variant: int) -> Question:
    from core.models.wgan_distances import exact_js

    before, after = wgan_setup(variant)
    answer = exact_js(after)
    return Question(
        kind="number",
        text=(f"The same two segments, $P_0$ at $x = 0$ and $P_\\theta$ at $x = \\theta$, while $\\theta$ moves "
              f"from {fmt(before)} to {fmt(after)}. What is the Jensen–Shannon divergence $JS(P_0, P_\\theta)$ at "
              f"$\\theta = {fmt(after)}$, in natural logarithms?"),
        answer=answer,
        tolerance=0.01,
        explanation=(
            "The segments never overlap when $\\theta \\neq 0$: wherever $P_0$ has mass, $P_\\theta$ has none, so "
            "each of them is half of the mixture $M$ where it lives, and each KL term is $\\log 2$. Hence "
            f"$JS(P_0, P_\\theta) = \\log 2 = {fmt(answer)}$ at $\\theta = {fmt(after)}$, at "
            f"$\\theta = {fmt(before)}$, at every $\\theta \\neq 0$, and 0 only at $\\theta = 0$. The move changed "
            "nothing, so JS gives the generator no gradient — the earth-mover distance fell by "
            f"{fmt(abs(before) - abs(after))}. That is Figure 1's point, and WGAN's reason to train on $W$."
        ),
        link=links.wgan_figure(after),
        figure=_segments_figure(before, after),
        params={"theta_before": before, "theta_after": after},
    )


WGAN_JS = Step(
    id="wgan-js",
    topics=(21,),
    title="WGAN: why not Jensen–Shannon",
    idea=(
        "The Jensen–Shannon divergence compares each distribution with their mixture $M = (P + Q)/2$ through the "
        "Kullback–Leibler divergence. It is 0 for equal distributions and, in natural logarithms, never exceeds "
        "$\\log 2$. What matters for a generator is how it changes as the generator's distribution moves."
    ),
    formula=r"JS(P, Q) = \tfrac{1}{2} KL(P \,\Vert\, M) + \tfrac{1}{2} KL(Q \,\Vert\, M), \qquad M = \tfrac{P + Q}{2}",
    source=("Arjovsky, Chintala and Bottou 2017, Wasserstein GAN", "https://arxiv.org/abs/1701.07875"),
    ask=ask_wgan_js,
)

STEPS = (GAN_OBJECTIVE, GAN_GRADIENT, CGAN, CYCLEGAN, PROGAN, WGAN_EM, WGAN_JS)
