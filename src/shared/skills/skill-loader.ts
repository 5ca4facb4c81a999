// STUB — to be implemented (skills helper).
export class SkillLoader {
  constructor(readonly skillsDir: string) {}
}
