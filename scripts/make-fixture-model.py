#!/usr/bin/python3
"""
Generates test/fixtures/tiny-bert/: a tiny, randomly initialised BERT-style sentence encoder laid out the way
@huggingface/transformers (transformers.js v3) expects a local model folder, so the `transformers` embedding
provider can be tested without the Hugging Face hub (which tests must never contact).

  config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx, onnx/model_quantized.onnx

The weights are random (fixed seed): the fixture exercises the loading and inference path, not quality.

Regenerate (Debian):  apt-get install -y python3-torch python3-onnx
                      /usr/bin/python3 scripts/make-fixture-model.py
Running it twice gives byte-identical files, so a regenerated fixture shows no diff unless the script changed.

The quantized variant mirrors what onnxruntime's `quantize_dynamic` produces for MatMul (which is what the
`*_quantized.onnx` files on the hub are): int8 weights, activations quantized at run time with
DynamicQuantizeLinear, MatMulInteger, then rescaled to float. onnxruntime's Python package is not in Debian,
so the rewrite is done here by hand with the `onnx` package.
"""
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

SEED = 20240601
HIDDEN = 32
LAYERS = 2
HEADS = 2
INTERMEDIATE = 64
MAX_POSITIONS = 128
TYPE_VOCAB = 2
OPSET = 14

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'tiny-bert')

SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

# Whole words first (so common words are one token each), then single characters and their `##`
# continuations, so any lower-case ASCII word can still be spelled out without [UNK].
WORDS = """
a about account address after again all also am an and any are as ask at back bad bank be because been before
best bill billing book booking buy by call can cancel card change charge chat check city close code cold come
company contact cost could customer data day delete delivery did do does doctor dollar down email error every
fee find flight for forgot from get give go good had has have hello help her here hi him his home hotel how
i if in info information invoice is it its job just know language last late legal like login long look love
make me medical medicine message money more my name need new news no not now number of off on one open or
order other our out over package password pay payment person phone plan please policy politics price privacy
problem product question rain read refund reset return right room said say service set she ship shipping should
sign so some sorry status stock subscription sun support take tell than thank thanks that the their them then
there they thing think this time to today tomorrow track tracking travel two up update upgrade us use user
vote want was way we weather week well were what when where which who why will with work would write wrong
year yes you your ignore previous instructions system prompt reveal secret jailbreak pretend rules
""".split()


def build_vocab():
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)

    def add(token):
        if token not in seen:
            seen.add(token)
            vocab.append(token)

    for word in WORDS:
        add(word)
    characters = 'abcdefghijklmnopqrstuvwxyz0123456789'
    punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'
    for ch in characters + punctuation:
        add(ch)
    for ch in characters:
        add('##' + ch)
    return vocab


def tokenizer_json(vocab):
    ids = {token: i for i, token in enumerate(vocab)}
    added = [
        {
            'id': ids[t],
            'content': t,
            'single_word': False,
            'lstrip': False,
            'rstrip': False,
            'normalized': False,
            'special': True,
        }
        for t in SPECIAL_TOKENS
    ]

    def special(token):
        return {'SpecialToken': {'id': token, 'type_id': 0}}

    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': {
            'type': 'BertNormalizer',
            'clean_text': True,
            'handle_chinese_chars': True,
            'strip_accents': None,
            'lowercase': True,
        },
        'pre_tokenizer': {'type': 'BertPreTokenizer'},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [special('[CLS]'), {'Sequence': {'id': 'A', 'type_id': 0}}, special('[SEP]')],
            'pair': [
                special('[CLS]'),
                {'Sequence': {'id': 'A', 'type_id': 0}},
                special('[SEP]'),
                {'Sequence': {'id': 'B', 'type_id': 1}},
                {'SpecialToken': {'id': '[SEP]', 'type_id': 1}},
            ],
            'special_tokens': {t: {'id': t, 'ids': [ids[t]], 'tokens': [t]} for t in ['[CLS]', '[SEP]']},
        },
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': True},
        'model': {
            'type': 'WordPiece',
            'unk_token': '[UNK]',
            'continuing_subword_prefix': '##',
            'max_input_chars_per_word': 100,
            'vocab': ids,
        },
    }


def tokenizer_config():
    return {
        'tokenizer_class': 'BertTokenizer',
        'do_lower_case': True,
        'model_max_length': MAX_POSITIONS,
        'pad_token': '[PAD]',
        'unk_token': '[UNK]',
        'cls_token': '[CLS]',
        'sep_token': '[SEP]',
        'mask_token': '[MASK]',
        'clean_up_tokenization_spaces': True,
    }


def model_config(vocab_size):
    return {
        'architectures': ['BertModel'],
        'model_type': 'bert',
        'vocab_size': vocab_size,
        'hidden_size': HIDDEN,
        'num_hidden_layers': LAYERS,
        'num_attention_heads': HEADS,
        'intermediate_size': INTERMEDIATE,
        'hidden_act': 'gelu',
        'max_position_embeddings': MAX_POSITIONS,
        'type_vocab_size': TYPE_VOCAB,
        'layer_norm_eps': 1e-12,
        'pad_token_id': 0,
        'initializer_range': 0.02,
    }


class Layer(torch.nn.Module):
    """One post-LayerNorm transformer encoder layer, as in BERT."""

    def __init__(self):
        super().__init__()
        self.query = torch.nn.Linear(HIDDEN, HIDDEN)
        self.key = torch.nn.Linear(HIDDEN, HIDDEN)
        self.value = torch.nn.Linear(HIDDEN, HIDDEN)
        self.attention_out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.intermediate = torch.nn.Linear(HIDDEN, INTERMEDIATE)
        self.output = torch.nn.Linear(INTERMEDIATE, HIDDEN)
        self.output_norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)

    def heads(self, x):
        batch, seq, _ = x.shape
        return x.view(batch, seq, HEADS, HIDDEN // HEADS).transpose(1, 2)

    def forward(self, hidden, additive_mask):
        batch, seq, _ = hidden.shape
        q, k, v = self.heads(self.query(hidden)), self.heads(self.key(hidden)), self.heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(HIDDEN // HEADS) + additive_mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(batch, seq, HIDDEN)
        hidden = self.attention_norm(hidden + self.attention_out(context))
        feed = self.output(torch.nn.functional.gelu(self.intermediate(hidden)))
        return self.output_norm(hidden + feed)


class TinyBert(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.word = torch.nn.Embedding(vocab_size, HIDDEN)
        self.position = torch.nn.Embedding(MAX_POSITIONS, HIDDEN)
        self.token_type = torch.nn.Embedding(TYPE_VOCAB, HIDDEN)
        self.norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(LAYERS)])

    def forward(self, input_ids, attention_mask, token_type_ids):
        seq = input_ids.shape[1]
        positions = torch.arange(seq, dtype=torch.long).unsqueeze(0)
        hidden = self.norm(self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids))
        # Padding keys get a large negative score, so a padded batch gives the same vectors as one-by-one.
        additive_mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            hidden = layer(hidden, additive_mask)
        return hidden


def export_fp32(vocab_size, path):
    torch.manual_seed(SEED)
    model = TinyBert(vocab_size).eval()
    sample = torch.tensor([[2, 10, 11, 3]], dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample, torch.ones_like(sample), torch.zeros_like(sample)),
            path,
            input_names=['input_ids', 'attention_mask', 'token_type_ids'],
            output_names=['last_hidden_state'],
            dynamic_axes={
                'input_ids': {0: 'batch_size', 1: 'sequence_length'},
                'attention_mask': {0: 'batch_size', 1: 'sequence_length'},
                'token_type_ids': {0: 'batch_size', 1: 'sequence_length'},
                'last_hidden_state': {0: 'batch_size', 1: 'sequence_length'},
            },
            opset_version=OPSET,
            do_constant_folding=True,
        )
    graph = onnx.load(path)
    graph.producer_name = 'railgate make-fixture-model.py'
    graph.producer_version = ''
    onnx.save(graph, path)


def quantize_dynamic(src, dst):
    """MatMul(X, W const) → DynamicQuantizeLinear(X) · MatMulInteger(Xq, Wq int8) → Cast → Mul(scale)."""
    model = onnx.load(src)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    new_nodes = []
    new_inits = []
    for index, node in enumerate(graph.node):
        weight = initializers.get(node.input[1]) if node.op_type == 'MatMul' and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_scale = max(float(np.abs(w).max()), 1e-8) / 127.0
        w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        base = f'q{index}'
        new_inits += [
            numpy_helper.from_array(w_q, f'{base}_w_q'),
            numpy_helper.from_array(np.array(w_scale, dtype=np.float32), f'{base}_w_scale'),
            numpy_helper.from_array(np.array(0, dtype=np.int8), f'{base}_w_zero'),
        ]
        x = node.input[0]
        new_nodes += [
            helper.make_node('DynamicQuantizeLinear', [x], [f'{base}_x_q', f'{base}_x_scale', f'{base}_x_zero'],
                             name=f'{base}_quantize'),
            helper.make_node('MatMulInteger', [f'{base}_x_q', f'{base}_w_q', f'{base}_x_zero', f'{base}_w_zero'],
                             [f'{base}_int32'], name=f'{base}_matmul'),
            helper.make_node('Cast', [f'{base}_int32'], [f'{base}_float'], to=TensorProto.FLOAT, name=f'{base}_cast'),
            helper.make_node('Mul', [f'{base}_x_scale', f'{base}_w_scale'], [f'{base}_scale'], name=f'{base}_scale'),
            helper.make_node('Mul', [f'{base}_float', f'{base}_scale'], [node.output[0]], name=f'{base}_rescale'),
        ]
    still_used = {name for n in new_nodes for name in n.input}
    kept = [init for init in graph.initializer if init.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    del graph.node[:]
    graph.node.extend(new_nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def write_json(name, value):
    with open(os.path.join(ROOT, name), 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write('\n')


def main():
    os.makedirs(os.path.join(ROOT, 'onnx'), exist_ok=True)
    vocab = build_vocab()
    write_json('config.json', model_config(len(vocab)))
    write_json('tokenizer.json', tokenizer_json(vocab))
    write_json('tokenizer_config.json', tokenizer_config())
    fp32 = os.path.join(ROOT, 'onnx', 'model.onnx')
    export_fp32(len(vocab), fp32)
    quantize_dynamic(fp32, os.path.join(ROOT, 'onnx', 'model_quantized.onnx'))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f'wrote {os.path.normpath(ROOT)} ({len(vocab)} tokens, {total} bytes)', file=sys.stderr)


if __name__ == '__main__':
    main()
