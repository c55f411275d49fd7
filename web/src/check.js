// Placeholder until this module lands.
export async function install(ctx) {}
