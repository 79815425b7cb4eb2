import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCategoryTable } from '../../src/models.js';
import { classIdOf, classMeanings, COCO_TABLE, cocoLabels, defaultLabels, loadLabels } from './labels.js';

const COCO_LABELS = cocoLabels();

const dir = mkdtempSync(path.join(tmpdir(), 'graphrun-yolo-labels-'));
const file = (name: string, text: string) => { const p = path.join(dir, name); writeFileSync(p, text); return p; };

describe('labels', () => {
  it('reads one label per line, or a YAML/JSON list, map or Ultralytics names:', () => {
    expect(loadLabels(file('a.txt', '# comment\ndeer\n\nwild_boar\r\nfox\n'))).toEqual(['deer', 'wild_boar', 'fox']);
    expect(loadLabels(file('b.yml', '- deer\n- fox\n'))).toEqual(['deer', 'fox']);
    expect(loadLabels(file('c.yaml', 'names:\n  0: deer\n  1: fox\n'))).toEqual(['deer', 'fox']);
    expect(loadLabels(file('d.json', '{"labels": ["a", "b"]}'))).toEqual(['a', 'b']);
    expect(() => loadLabels(file('e.yml', 'names:\n  0: deer\n  2: fox\n'))).toThrow(/class id 1 has no label/);
    expect(() => loadLabels(path.join(dir, 'nope.txt'))).toThrow(/labels file .*nope\.txt: ENOENT/);
  });

  it('defaults to COCO for 80 classes, person for a one-class pose model, classN otherwise', () => {
    expect(defaultLabels(80, 'yolox')).toEqual(COCO_LABELS);
    expect(COCO_LABELS.length).toBe(80);
    expect([COCO_LABELS[0], COCO_LABELS[1], COCO_LABELS[2], COCO_LABELS[7], COCO_LABELS[16]]).toEqual(['person', 'bicycle', 'car', 'truck', 'dog']);
    expect(defaultLabels(1, 'yolov8-pose')).toEqual(['person']);
    expect(defaultLabels(2, 'yolov8')).toEqual(['class0', 'class1']);
  });

  it('finds classes named in options by label or id, and says what it has when one is unknown', () => {
    expect(classIdOf('dog', COCO_LABELS, 'classes')).toBe(16);
    expect(classIdOf(3, COCO_LABELS, 'classes')).toBe(3);
    expect(classIdOf('3', COCO_LABELS, 'classes')).toBe(3);
    expect(() => classIdOf('persn', COCO_LABELS, 'class_thresholds')).toThrow('class_thresholds: unknown class "persn" (did you mean "person"?); the model\'s labels: person, bicycle, car,');
    expect(() => classIdOf(80, COCO_LABELS, 'classes')).toThrow('classes: class id 80 is out of range (the model has 80 classes)');
  });
});

describe('categories', () => {
  it('takes category, species and threat level from a table in the models/categories format', () => {
    const t = loadCategoryTable(file('w.yml', [
      'description: test', 'default: other', 'labels:',
      '  deer: { category: wildlife, species: deer, threat_level: high }',
      '  wild_boar: { category: wildlife, species: wild boar, threat_level: high }',
      '  person: { category: human }',
    ].join('\n')));
    expect(classMeanings(['deer', 'wild_boar', 'person', 'car'], t)).toEqual([
      { category: 'wildlife', species: 'deer', threatLevel: 'high' },
      { category: 'wildlife', species: 'wild boar', threatLevel: 'high' },
      { category: 'human' },
      { category: 'other' },
    ]);
  });

  it('maps COCO animals to wildlife and person to human (models/categories/coco.yml); without a table only person is human', () => {
    const m = classMeanings(COCO_LABELS, loadCategoryTable(COCO_TABLE));
    expect(m[0]).toEqual({ category: 'human' });
    expect(m[16]).toEqual({ category: 'wildlife', species: 'dog', threatLevel: 'medium' });
    expect(m[21]).toEqual({ category: 'wildlife', species: 'bear', threatLevel: 'high' });
    expect(m[2]).toEqual({ category: 'other' });
    expect(m.filter((x) => x.category === 'wildlife').length).toBe(10);
    expect(classMeanings(['person', 'deer'], undefined)).toEqual([{ category: 'human' }, { category: 'other' }]);
  });
});
