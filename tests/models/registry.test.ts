import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import {
  UnknownModelError, checkModelOptions, createModel, getModel, knownNames, listModels, modelConfig, optionFlag, registerModel, type ModelSpec,
} from '../../src/models/registry.js';
import { BigramLM } from '../../src/models/bigram.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

/** A spec with options of every type, built on the bigram so it can run. */
const toy: ModelSpec = {
  name: 'toy-test',
  aliases: ['toy'],
  description: 'test model',
  stateful: true,
  defaults: { hidden: 8, embedSize: 4, cell: 'tanh', tie: false, dropout: 0 },
  options: [
    { key: 'hidden', type: 'int', min: 1, max: 64, description: 'hidden units' },
    { key: 'embedSize', type: 'int', min: 1, description: 'embedding size' },
    { key: 'cell', type: 'choice', choices: ['tanh', 'relu'], description: 'cell' },
    { key: 'tie', type: 'boolean', description: 'tie weights' },
    { key: 'dropout', type: 'float', min: 0, max: 0.9, description: 'dropout' },
  ],
  create: (o, config, rng) => new BigramLM(o, { vocabSize: config.vocabSize as number }, rng),
};
registerModel(toy);

describe('the model registry', () => {
  it('has the bigram under its name and the alias neuron', () => {
    expect(getModel('bigram').name).toBe('bigram');
    expect(getModel('neuron')).toBe(getModel('bigram'));
    expect(knownNames()).toContain('bigram (neuron)');
    expect(listModels()[0].name).toBe('bigram');
    const m = createModel(ops, 'neuron', { vocabSize: 4 }, new Rng(1));
    expect(m.kind).toBe('bigram');
    expect(m.config).toEqual({ vocabSize: 4 });
  });

  it('names the known models for an unknown one, in one line', () => {
    expect(() => getModel('lstmm')).toThrow(UnknownModelError);
    expect(() => getModel('lstmm')).toThrow(/^unknown model 'lstmm' \(known models: bigram \(neuron\), .*toy-test \(toy\).*\)$/);
  });

  it('refuses duplicate names and aliases, and options without defaults', () => {
    expect(() => registerModel({ ...toy, aliases: [] })).toThrow(/'toy-test' is already registered/);
    expect(() => registerModel({ ...toy, name: 'other', aliases: ['neuron'] })).toThrow(/'neuron' is already registered \(by 'bigram'\)/);
    expect(() => registerModel({ ...toy, name: 'Bad Name', aliases: [] })).toThrow(/lowercase/);
    expect(() => registerModel({ ...toy, name: 'nodefault', aliases: [], defaults: {} })).toThrow(/option 'hidden' has no default/);
    expect(() => registerModel({
      ...toy, name: 'clash', aliases: [], defaults: { seq: 3 }, options: [{ key: 'seq', type: 'int', description: 'x' }],
    })).toThrow(/option 'seq' would clash with the trainer's own --seq/);
  });

  it('merges defaults, checked user options and the vocabulary size', () => {
    expect(modelConfig(toy, { hidden: '32', cell: 'relu', tie: 'true', dropout: '0.25' }, 50))
      .toEqual({ hidden: 32, embedSize: 4, cell: 'relu', tie: true, dropout: 0.25, vocabSize: 50 });
    expect(modelConfig(toy, {}, 7)).toEqual({ ...toy.defaults, vocabSize: 7 });
  });

  it('names the flag and the expected values for a bad option', () => {
    expect(() => modelConfig(toy, { hidden: '0' }, 5)).toThrow("--hidden expects an integer from 1 to 64, got '0'");
    expect(() => modelConfig(toy, { hidden: '2.5' }, 5)).toThrow(/--hidden expects an integer/);
    expect(() => modelConfig(toy, { embedSize: 'x' }, 5)).toThrow("--embed-size expects an integer ≥ 1, got 'x'");
    expect(() => modelConfig(toy, { cell: 'gelu' }, 5)).toThrow("--cell expects one of tanh, relu, got 'gelu'");
    expect(() => modelConfig(toy, { tie: 'maybe' }, 5)).toThrow('--tie expects true or false');
    expect(() => modelConfig(getModel('bigram'), { hidden: 5 }, 5)).toThrow("model 'bigram' has no option --hidden (its options: none)");
  });

  it('turns camelCase keys into kebab-case flags', () => {
    expect(optionFlag('embedSize')).toBe('embed-size');
    expect(optionFlag('hidden')).toBe('hidden');
  });
});

describe('checkModelOptions: the checks that need no data, run before any is loaded', () => {
  it('refuses a --d-model that the heads do not divide, and moe top-k above its experts, naming the flags', () => {
    for (const name of ['transformer', 'moe', 'moe-dense', 'memory-lm']) {
      expect(() => checkModelOptions(getModel(name), { dModel: '30', heads: '4' }), name)
        .toThrow('--d-model 30 must be a multiple of --heads 4 (each head gets d-model / heads dimensions)');
      expect(checkModelOptions(getModel(name), { dModel: '32', heads: '4' })).toMatchObject({ dModel: 32, heads: 4 });
    }
    expect(() => checkModelOptions(getModel('moe'), { experts: '1', topK: '2' })).toThrow('--experts 1 is fewer than --top-k 2');
    expect(() => checkModelOptions(getModel('transformer'), { heads: 'x' })).toThrow(/--heads expects an integer/);
  });

  it('merges over a base config (a resume checks against its checkpoint), without vocabSize', () => {
    const spec = getModel('transformer');
    const base = { ...spec.defaults, dModel: 30, heads: 3, vocabSize: 9 };
    expect(checkModelOptions(spec, { heads: '3' }, base)).toEqual({ ...spec.defaults, dModel: 30, heads: 3 });
    expect(() => checkModelOptions(spec, { heads: '4' }, base)).toThrow(/--d-model 30 must be a multiple of --heads 4/);
  });
});
