/** An interrupt request line driven by a device. UHCI's line is level-triggered (UHCI 2.1.2, 2.1.3). */
export interface IrqLine {
  /** Drives the line: true while the device requests service. Called only when the level changes. */
  set(level: boolean): void;
}

/** A level IRQ line that remembers its level: the line tests and the software guest watch. */
export class LevelIrqLine implements IrqLine {
  /** The current level. */
  level = false;
  /** How many times the line went from low to high. */
  rises = 0;

  constructor(private readonly onChange?: (level: boolean) => void) {}

  set(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    if (level) this.rises++;
    this.onChange?.(level);
  }
}
